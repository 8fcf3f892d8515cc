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
    select: { id: true, at: true, actorId: true, actorName: true, action: true, targetType: true, targetId: true, result: true, detail: true, ip: true },
  });
  const nextCursor = rows.length > input.limit ? rows.pop()?.id : undefined;
  return { items: rows, nextCursor };
}
