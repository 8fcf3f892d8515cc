/**
 * Teaching quotas: what an admin grants a teacher (VMs, vCPUs, memory, disk) and the ledger that every
 * class budget the teacher owns draws on. The ledger row is locked FOR UPDATE in the same transaction
 * that creates a class, changes its budget or expires it, so racing requests cannot overshoot the grant
 * and a release happens exactly once (with the class row's own change). Classes are charged to their
 * owner; co-teachers spend the owner's grant. No grant means limits of 0; admins are unbounded (they
 * could grant themselves anything), but their classes are recorded on the ledger all the same.
 */
import type { Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { authorize } from "../domain/policy.ts";
import { applyLedgerDelta, describeLedgerExcess, type ResourceAmounts } from "../domain/quota.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";

export interface TeachingQuotaView {
  limits: ResourceAmounts;
  used: ResourceAmounts;
}

interface LedgerRow {
  maxVms: number;
  maxVcpus: number;
  maxMemoryMiB: number;
  maxDiskGiB: number;
  usedVms: number;
  usedVcpus: number;
  usedMemoryMiB: number;
  usedDiskGiB: number;
}

export function teachingQuotaView(q: LedgerRow | null): TeachingQuotaView {
  return {
    limits: { vms: q?.maxVms ?? 0, vcpus: q?.maxVcpus ?? 0, memoryMiB: q?.maxMemoryMiB ?? 0, diskGiB: q?.maxDiskGiB ?? 0 },
    used: { vms: q?.usedVms ?? 0, vcpus: q?.usedVcpus ?? 0, memoryMiB: q?.usedMemoryMiB ?? 0, diskGiB: q?.usedDiskGiB ?? 0 },
  };
}

/**
 * Moves `ownerId`'s teaching ledger by `delta` (a new budget, a raise, or a negative release) under the
 * row lock. Growth beyond the grant throws QUOTA_EXCEEDED (409) naming limit, usage and request; the
 * caller's transaction then rolls back whatever else it did. Callers that also lock a Class row lock it
 * first (Class → TeachingQuota, the reconciler's order too).
 */
export async function moveTeachingLedger(tx: Tx, ownerId: string, delta: ResourceAmounts): Promise<TeachingQuotaView> {
  await tx.$executeRaw`INSERT INTO "TeachingQuota" ("userId", "updatedAt") VALUES (${ownerId}::uuid, now()) ON CONFLICT DO NOTHING`;
  const [row] = await tx.$queryRaw<LedgerRow[]>`
    SELECT "maxVms", "maxVcpus", "maxMemoryMiB", "maxDiskGiB", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB"
    FROM "TeachingQuota" WHERE "userId" = ${ownerId}::uuid FOR UPDATE`;
  if (!row) throw new Error("teaching quota row vanished");
  const owner = await tx.user.findUnique({ where: { id: ownerId }, select: { role: true } });
  const view = teachingQuotaView(row);
  const change = applyLedgerDelta(view.limits, view.used, delta, owner?.role === "admin");
  if (change.excesses.length) {
    throw new AppError("QUOTA_EXCEEDED", change.excesses.map((e) => describeLedgerExcess("teaching quota", e)).join("; "), { excesses: change.excesses });
  }
  const u = change.usedAfter;
  await tx.teachingQuota.update({ where: { userId: ownerId }, data: { usedVms: u.vms, usedVcpus: u.vcpus, usedMemoryMiB: u.memoryMiB, usedDiskGiB: u.diskGiB } });
  return { limits: view.limits, used: u };
}

/** The caller's own grant and what their classes' budgets take of it. */
export async function getOwnTeachingQuota(ctx: ServiceContext): Promise<TeachingQuotaView> {
  authorize(ctx.actor, "quota.readOwn");
  return teachingQuotaView(await ctx.db.teachingQuota.findUnique({ where: { userId: ctx.actor.id } }));
}

/**
 * Admin: sets a teacher's grant. Lowering it below what the classes already take is allowed (like
 * personal quotas): existing budgets stay, no budget may grow until usage is back under the limit.
 */
export async function setTeachingQuota(ctx: ServiceContext, userId: string, limits: ResourceAmounts): Promise<TeachingQuotaView> {
  authorize(ctx.actor, "quota.manage");
  const user = await ctx.db.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new AppError("NOT_FOUND", "user not found");
  const data = { maxVms: limits.vms, maxVcpus: limits.vcpus, maxMemoryMiB: limits.memoryMiB, maxDiskGiB: limits.diskGiB };
  const row = await ctx.db.teachingQuota.upsert({ where: { userId }, create: { userId, ...data }, update: data });
  await auditAs(ctx, { action: "teachingQuota.update", targetType: "user", targetId: userId, result: "ok", detail: { ...limits } });
  return teachingQuotaView(row);
}
