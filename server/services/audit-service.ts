/**
 * The audit log: every mutation (and every denied one) is recorded with who, what, target, result and
 * time. Written after the fact and never allowed to fail the request it describes.
 */
import type { Db, Tx } from "../db/client.ts";
import { log } from "../log.ts";
import type { ServiceContext } from "./context.ts";
import { authorize } from "../domain/policy.ts";

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  result: "ok" | "denied" | "error";
  detail?: Record<string, unknown>;
}

export async function audit(client: Db | Tx, who: { actorId: string | null; actorName: string | null; ip: string | null }, entry: AuditEntry): Promise<void> {
  try {
    await client.auditEvent.create({
      data: {
        actorId: who.actorId,
        actorName: who.actorName,
        ip: who.ip,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId,
        result: entry.result,
        detail: (entry.detail ?? {}) as object,
      },
    });
  } catch (err) {
    log.error({ err, entry }, "audit write failed");
  }
}

export function auditAs(ctx: ServiceContext, entry: AuditEntry): Promise<void> {
  return audit(ctx.db, { actorId: ctx.actor.id, actorName: ctx.actor.username, ip: ctx.ip }, entry);
}

export async function listAudit(ctx: ServiceContext, input: { limit: number; cursor?: string; action?: string; actorId?: string }) {
  authorize(ctx.actor, "audit.read");
  const rows = await ctx.db.auditEvent.findMany({
    where: { ...(input.action ? { action: { startsWith: input.action } } : {}), ...(input.actorId ? { actorId: input.actorId } : {}) },
    orderBy: [{ at: "desc" }, { id: "desc" }],
    take: input.limit + 1,
    ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    select: { id: true, at: true, actorId: true, actorName: true, action: true, targetType: true, targetId: true, result: true, detail: true, ip: true, count: true, lastAt: true },
  });
  const nextCursor = rows.length > input.limit ? rows.pop()?.id : undefined;
  return { items: rows, nextCursor };
}

export interface Refusal {
  action: string;
  result?: "denied";
  ip: string | null;
  /** A short fixed phrase ("invalid token"), never user input: it is part of the aggregation key. */
  reason: string;
}

/** The aggregation key of a refusal: the console proxy builds the same one in its own store. */
export function refusalKey(r: Refusal, windowStart: Date): string {
  return [r.action, r.result ?? "denied", r.ip ?? "", r.reason, windowStart.toISOString()].join("|");
}

/**
 * Records a refusal of an unauthenticated request as one row per (action, result, address, reason,
 * minute) with a count, so a flood of forged tokens costs one row a minute per address instead of a
 * row per request. A single INSERT … ON CONFLICT: concurrent refusals never race each other.
 */
export async function auditRefusal(client: Db | Tx, r: Refusal, now: Date = new Date()): Promise<void> {
  const windowStart = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  const key = refusalKey(r, windowStart);
  const detail = JSON.stringify({ reason: r.reason });
  try {
    await client.$executeRaw`
      INSERT INTO "AuditEvent" ("id", "at", "action", "result", "detail", "ip", "count", "lastAt", "aggregateKey")
      VALUES (gen_random_uuid(), ${now}, ${r.action}, ${r.result ?? "denied"}, ${detail}::jsonb, ${r.ip}, 1, ${now}, ${key})
      ON CONFLICT ("aggregateKey") DO UPDATE SET "count" = "AuditEvent"."count" + 1, "lastAt" = EXCLUDED."lastAt"`;
  } catch (err) {
    log.error({ err, refusal: r }, "audit write failed");
  }
}
