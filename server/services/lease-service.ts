/**
 * Leases of personal VMs: the admin's policy (the "leases" setting) and the owner's extension. The
 * lease job (server/jobs/leases.ts) warns, stops and deletes; this module only reads and records.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Db, Tx } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { AppError } from "../domain/errors.ts";
import { extendLease as extended, normalizeLeasePolicy, type LeasePolicy, type LeaseRole } from "../domain/lease.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";

const KEY = "leases";

/** The stored policy, completed with the defaults (leases are off until an admin sets a default). */
export async function leasePolicy(db: Db | Tx): Promise<LeasePolicy> {
  const row = await db.setting.findUnique({ where: { key: KEY } });
  return normalizeLeasePolicy(row?.value);
}

export async function getLeasePolicy(ctx: ServiceContext): Promise<LeasePolicy> {
  authorize(ctx.actor, "lease.manage");
  return leasePolicy(ctx.db);
}

/** Replaces the policy; it applies to VMs created from now on, and to the warning, stop and grace of all. */
export async function setLeasePolicy(ctx: ServiceContext, input: LeasePolicy): Promise<LeasePolicy> {
  authorize(ctx.actor, "lease.manage");
  const next = normalizeLeasePolicy(input);
  const value = next as unknown as Prisma.InputJsonObject;
  await ctx.db.setting.upsert({ where: { key: KEY }, create: { key: KEY, value }, update: { value } });
  await auditAs(ctx, { action: "lease.policy", targetType: "setting", targetId: KEY, result: "ok", detail: { ...next } });
  return next;
}

/**
 * The owner adds `days` to a personal VM's lease: 404 when not theirs, 409 when it has no lease or the
 * role's maximum would be passed. The warning is cleared, so the next one is about the new expiry.
 */
export async function extendVmLease(ctx: ServiceContext, vmId: string, days: number) {
  const vm = await ctx.db.vm.findFirst({
    where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) },
    select: { id: true, state: true, leaseExpiresAt: true, leaseExtendedDays: true, owner: { select: { role: true } }, ...vmAccessSelect },
  });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.lease", vmTarget(vm));
  try {
    if (vm.state === "deleting" || vm.state === "deleted") throw new AppError("WRONG_STATE", `cannot extend the lease of a VM that is ${vm.state}`);
    const policy = await leasePolicy(ctx.db);
    const next = extended({ expiresAt: vm.leaseExpiresAt, extendedDays: vm.leaseExtendedDays }, days, policy.roles[vm.owner.role as LeaseRole], new Date());
    // Conditional on the lease we read: two racing extensions cannot both pass the maximum.
    const { count } = await ctx.db.vm.updateMany({
      where: { id: vmId, leaseExpiresAt: vm.leaseExpiresAt, leaseExtendedDays: vm.leaseExtendedDays, deletedAt: null },
      data: { leaseExpiresAt: next.expiresAt, leaseExtendedDays: next.extendedDays, leaseWarnedAt: null },
    });
    if (count === 0) throw new AppError("CONFLICT", "the lease changed meanwhile; try again");
    await notifyVmChanged(ctx.db, { vmId, ownerId: vm.ownerId });
    await auditAs(ctx, { action: "vm.lease.extend", targetType: "vm", targetId: vmId, result: "ok", detail: { days, from: vm.leaseExpiresAt, to: next.expiresAt, extendedDays: next.extendedDays } });
    return { expiresAt: next.expiresAt, extendedDays: next.extendedDays, maxExtensionDays: policy.roles[vm.owner.role as LeaseRole].maxExtensionDays };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.lease.extend", targetType: "vm", targetId: vmId, result: "denied", detail: { days, reason: err.message } });
    throw err;
  }
}
