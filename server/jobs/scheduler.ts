/**
 * Runs classroom schedules (leader only, on a timer, with an injected clock): starts a class's VMs
 * N minutes before each session, shuts them down at its end, freezes classes at their deadline and
 * deletes the VMs of expired classes. Each event is claimed with a conditional update before it is
 * acted on, so it happens exactly once even across restarts, and a missed tick catches up.
 *
 * A schedule is its teacher's request carried out later: its operations are queued in the class
 * owner's name, so each class takes its own turns at the worker and a host's heavy-call slots
 * (HostSlots) instead of every class's schedule and the portal's own work (HA restarts) sharing one.
 */
import type { Db } from "../db/client.ts";
import { dueSessionActions } from "../domain/schedule.ts";
import { log } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import { applyFreeze, bulkAction } from "../services/class-bulk.ts";
import { expireClass } from "../services/class-service.ts";
import type { Clock } from "./clock.ts";

export async function runSchedules(db: Db, clock: Clock): Promise<{ started: number; stopped: number; frozen: number; expired: number }> {
  const now = clock.now();
  const asOwner = (ownerId: string) => ({ db, requestedById: ownerId });
  const counts = { started: 0, stopped: 0, frozen: 0, expired: 0 };
  const system = { actorId: null, actorName: "scheduler", ip: null };

  const sessions = await db.classSession.findMany({
    where: { endedAt: null, startsAt: { lte: new Date(now.getTime() + 24 * 3600_000) }, class: { expiredAt: null } },
    select: { id: true, classId: true, startsAt: true, endsAt: true, startedAt: true, endedAt: true, class: { select: { preStartMinutes: true, frozenAt: true, ownerId: true } } },
  });
  const pre = new Map(sessions.map((s) => [s.classId, s.class.preStartMinutes]));
  for (const due of dueSessionActions(sessions, now, (classId) => pre.get(classId) ?? 10)) {
    const field = due.action === "start" ? "startedAt" : "endedAt";
    const { count } = await db.classSession.updateMany({ where: { id: due.sessionId, [field]: null }, data: { [field]: now } });
    if (count === 0) continue;
    const session = sessions.find((s) => s.id === due.sessionId)!;
    if (due.action === "start" && session.class.frozenAt) continue;
    const result = await bulkAction(asOwner(session.class.ownerId), due.classId, due.action, {});
    counts[due.action === "start" ? "started" : "stopped"] += result.queued.length;
    await audit(db, system, { action: `class.session.${due.action}`, targetType: "class", targetId: due.classId, result: "ok", detail: { sessionId: due.sessionId, queued: result.queued.length, skipped: result.skipped } });
  }

  const toFreeze = await db.class.findMany({ where: { freezeAt: { lte: now }, frozenAt: null, expiredAt: null }, select: { id: true, ownerId: true } });
  for (const c of toFreeze) {
    const result = await applyFreeze(asOwner(c.ownerId), c.id, now);
    counts.frozen += result.queued.length;
    await audit(db, system, { action: "class.freeze", targetType: "class", targetId: c.id, result: "ok", detail: { scheduled: true, queued: result.queued.length } });
  }

  const expired = await db.class.findMany({ where: { expiresAt: { lte: now }, expiredAt: null }, select: { id: true, ownerId: true } });
  for (const c of expired) {
    const result = await expireClass(asOwner(c.ownerId), c.id, now);
    if (!result.expired) continue;
    counts.expired += result.queued;
    await audit(db, system, { action: "class.expire", targetType: "class", targetId: c.id, result: "ok", detail: { queued: result.queued, skipped: result.skipped } });
  }
  if (counts.started + counts.stopped + counts.frozen + counts.expired > 0) log.info(counts, "class schedules applied");
  return counts;
}
