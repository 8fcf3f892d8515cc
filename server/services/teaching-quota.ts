/**
 * Teaching quotas: what an admin grants a teacher (VMs, vCPUs, memory, disk) and the ledger that every
 * class budget the teacher owns draws on. The ledger moves (under its row lock, in the transaction
 * that creates a class, changes its budget or expires it) are quota-service's moveTeachingLedger.
 * Classes are charged to their owner; co-teachers spend the owner's grant. No grant means limits of 0;
 * admins are unbounded (they could grant themselves anything), but their classes are recorded on the
 * ledger all the same.
 */
import { AppError } from "../domain/errors.ts";
import { authorize } from "../domain/policy.ts";
import type { ResourceAmounts } from "../domain/quota.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";

export interface TeachingQuotaView {
  limits: ResourceAmounts;
  used: ResourceAmounts;
}

/** A ledger row's limit and usage columns (TeachingQuota; Quota and Class have the same). */
export interface LedgerRow {
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
