/**
 * The resource ledgers, and the only code that changes their usage columns (usedVms, usedVcpus,
 * usedMemoryMiB, usedDiskGiB; test/unit/architecture.test.ts holds every other file to that):
 * - Quota: a user's personal VMs, charged when one is requested, returned when it is gone.
 * - Class: a class's budget as its VMs use it (class VMs are paid from it, not from the student).
 * - TeachingQuota: a teacher's grant as their live classes' budgets take it.
 * Every change runs inside the caller's transaction under a row lock (FOR UPDATE) or guarded by a
 * conditional update, so racing requests cannot overshoot a limit and a release happens exactly once.
 * Lock order, wherever two are taken: Class → TeachingQuota. The arithmetic is pure, in domain/quota.ts.
 */
import type { Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import {
  amountsDelta,
  applyLedgerDelta,
  budgetBelowUsage,
  describeExcess,
  describeLedgerExcess,
  diffQuotaUsage,
  diffTeachingUsage,
  quotaExcesses,
  resourceLabel,
  ZERO_AMOUNTS,
  type QuotaDrift,
  type ResourceAmounts,
} from "../domain/quota.ts";
import { teachingQuotaView, type LedgerRow, type TeachingQuotaView } from "./teaching-quota.ts";

/** Locks the owner's quota row, checks the request against it and reserves it. Throws QUOTA_EXCEEDED naming the limit. */
export async function reserveQuota(tx: Tx, userId: string, cost: ResourceAmounts): Promise<void> {
  await tx.$executeRaw`INSERT INTO "Quota" ("userId", "updatedAt") VALUES (${userId}::uuid, now()) ON CONFLICT DO NOTHING`;
  const rows = await tx.$queryRaw<
    Array<{ maxVms: number; maxVcpus: number; maxMemoryMiB: number; maxDiskGiB: number; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>
  >`SELECT "maxVms", "maxVcpus", "maxMemoryMiB", "maxDiskGiB", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "Quota" WHERE "userId" = ${userId}::uuid FOR UPDATE`;
  const q = rows[0];
  if (!q) throw new Error("quota row vanished");
  const excesses = quotaExcesses(
    { vms: q.maxVms, vcpus: q.maxVcpus, memoryMiB: q.maxMemoryMiB, diskGiB: q.maxDiskGiB },
    { vms: q.usedVms, vcpus: q.usedVcpus, memoryMiB: q.usedMemoryMiB, diskGiB: q.usedDiskGiB },
    cost,
  );
  if (excesses.length > 0) {
    throw new AppError("QUOTA_EXCEEDED", excesses.map(describeExcess).join("; "), { excesses });
  }
  await tx.quota.update({
    where: { userId },
    data: {
      usedVms: { increment: cost.vms },
      usedVcpus: { increment: cost.vcpus },
      usedMemoryMiB: { increment: cost.memoryMiB },
      usedDiskGiB: { increment: cost.diskGiB },
    },
  });
}

/**
 * Gives back what a resize reserved when it failed for good (`delta` as reserved; applied negated),
 * without a limit check: the VM's row goes back to its old size in the same transaction.
 */
export async function returnResizeReservation(tx: Tx, userId: string, delta: ResourceAmounts): Promise<void> {
  await tx.$executeRaw`UPDATE "Quota" SET
      "usedVcpus" = GREATEST(0, "usedVcpus" - ${delta.vcpus}),
      "usedMemoryMiB" = GREATEST(0, "usedMemoryMiB" - ${delta.memoryMiB}),
      "usedDiskGiB" = GREATEST(0, "usedDiskGiB" - ${delta.diskGiB}),
      "updatedAt" = now()
    WHERE "userId" = ${userId}::uuid`;
}

/**
 * Locks the owner's quota row (creating it with the defaults if missing) and returns the snapshot
 * limit with the snapshots counted under that lock: racing snapshot requests of one owner queue here,
 * so the count they check is the count they add to. Snapshot usage is the VmSnapshot rows of the
 * owner's VMs (a deleted VM's rows go with it), never a column that could drift.
 */
export async function lockSnapshotQuota(tx: Tx, userId: string): Promise<{ limit: number; used: number }> {
  await tx.$executeRaw`INSERT INTO "Quota" ("userId", "updatedAt") VALUES (${userId}::uuid, now()) ON CONFLICT DO NOTHING`;
  const rows = await tx.$queryRaw<Array<{ maxSnapshots: number }>>`SELECT "maxSnapshots" FROM "Quota" WHERE "userId" = ${userId}::uuid FOR UPDATE`;
  const q = rows[0];
  if (!q) throw new Error("quota row vanished");
  const used = await tx.vmSnapshot.count({ where: { vm: { ownerId: userId } } });
  return { limit: q.maxSnapshots, used };
}

/**
 * Returns a VM's reservation to its owner's quota, exactly once (guarded by Vm.quotaHeld), inside the
 * caller's transaction. Used by delete and by failed provisioning.
 */
export async function releaseQuota(tx: Tx, vmId: string): Promise<boolean> {
  const vm = await tx.vm.findUnique({ where: { id: vmId }, select: { ownerId: true, classId: true, vcpus: true, memoryMiB: true, diskGiB: true } });
  if (!vm) return false;
  const { count } = await tx.vm.updateMany({ where: { id: vmId, quotaHeld: true }, data: { quotaHeld: false } });
  if (count === 0) return false;
  if (vm.classId) {
    // Class VMs are paid from the class budget, not the student's quota.
    await tx.$executeRaw`UPDATE "Class" SET
        "usedVms" = GREATEST(0, "usedVms" - 1),
        "usedVcpus" = GREATEST(0, "usedVcpus" - ${vm.vcpus}),
        "usedMemoryMiB" = GREATEST(0, "usedMemoryMiB" - ${vm.memoryMiB}),
        "usedDiskGiB" = GREATEST(0, "usedDiskGiB" - ${vm.diskGiB}),
        "updatedAt" = now()
      WHERE "id" = ${vm.classId}::uuid`;
    return true;
  }
  await tx.$executeRaw`UPDATE "Quota" SET
      "usedVms" = GREATEST(0, "usedVms" - 1),
      "usedVcpus" = GREATEST(0, "usedVcpus" - ${vm.vcpus}),
      "usedMemoryMiB" = GREATEST(0, "usedMemoryMiB" - ${vm.memoryMiB}),
      "usedDiskGiB" = GREATEST(0, "usedDiskGiB" - ${vm.diskGiB}),
      "updatedAt" = now()
    WHERE "userId" = ${vm.ownerId}::uuid`;
  return true;
}

/**
 * Charges `count` VMs of `cost` to a class's budget. The caller holds the Class row lock and has
 * checked that they fit (provisioning recomputes its preview under that lock), in the transaction that
 * creates the VMs; each VM gives its share back through releaseQuota.
 */
export async function chargeClassBudget(tx: Tx, classId: string, cost: ResourceAmounts, count: number): Promise<void> {
  await tx.class.update({
    where: { id: classId },
    data: {
      usedVms: { increment: cost.vms * count },
      usedVcpus: { increment: cost.vcpus * count },
      usedMemoryMiB: { increment: cost.memoryMiB * count },
      usedDiskGiB: { increment: cost.diskGiB * count },
    },
  });
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

/**
 * Moves the owner's teaching ledger from the class's current budget to `budget`, under the class row's
 * lock (so two raises of one class cannot both count from the old budget). An expired class holds
 * nothing and keeps its budget; a budget cannot shrink below what the class's VMs use.
 */
export async function changeClassBudget(tx: Tx, id: string, budget: ResourceAmounts): Promise<void> {
  const [c] = await tx.$queryRaw<Array<{ ownerId: string; expiredAt: Date | null; maxVms: number; maxVcpus: number; maxMemoryMiB: number; maxDiskGiB: number; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
    SELECT "ownerId", "expiredAt", "maxVms", "maxVcpus", "maxMemoryMiB", "maxDiskGiB", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB"
    FROM "Class" WHERE "id" = ${id}::uuid FOR UPDATE`;
  if (!c) throw new AppError("NOT_FOUND", "class not found");
  if (c.expiredAt) throw new AppError("WRONG_STATE", "the class has expired: its budget can no longer change");
  const used = { vms: c.usedVms, vcpus: c.usedVcpus, memoryMiB: c.usedMemoryMiB, diskGiB: c.usedDiskGiB };
  const below = budgetBelowUsage(budget, used);
  if (below.length) {
    throw new AppError("CONFLICT", `the class's VMs already use more than that: ${below.map((r) => `${resourceLabel(r)} in use ${used[r]}, new budget ${budget[r]}`).join("; ")}`);
  }
  const current = { vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB };
  await moveTeachingLedger(tx, c.ownerId, amountsDelta(current, budget));
}

/**
 * Marks a class expired and returns its whole budget to the owner's teaching quota, exactly once: the
 * conditional update on `expiredAt` lets one transaction through (it also takes the Class row lock
 * before the ledger's). False when the class had already expired, and nothing moved.
 */
export async function releaseExpiredClassBudget(tx: Tx, id: string, now: Date): Promise<boolean> {
  const { count } = await tx.class.updateMany({ where: { id, expiredAt: null }, data: { expiredAt: now } });
  if (count === 0) return false;
  const c = await tx.class.findUniqueOrThrow({ where: { id }, select: { ownerId: true, maxVms: true, maxVcpus: true, maxMemoryMiB: true, maxDiskGiB: true } });
  await moveTeachingLedger(tx, c.ownerId, amountsDelta({ vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB }, ZERO_AMOUNTS));
  return true;
}

/**
 * Recounts every ledger from what actually holds it and overwrites the rows that drifted: Quota from
 * each owner's quota-holding personal VMs, Class from its quota-holding VMs, TeachingQuota from the
 * budgets of each owner's live classes. Every ledger row is locked first (Quota, Class, then
 * TeachingQuota: the Class → TeachingQuota order of the other operations), so no reservation or
 * release interleaves with the recount. Returns the drifts, class and teaching rows prefixed.
 */
export async function recountLedgers(tx: Tx): Promise<QuotaDrift[]> {
  // Lock every ledger row so no create/delete interleaves with the recount.
  const quotas = await tx.$queryRaw<Array<{ userId: string; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
    SELECT "userId", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "Quota" FOR UPDATE`;
  const classes = await tx.$queryRaw<Array<{ id: string; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
    SELECT "id", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "Class" FOR UPDATE`;
  const holding = await tx.vm.findMany({ where: { quotaHeld: true }, select: { ownerId: true, classId: true, vcpus: true, memoryMiB: true, diskGiB: true } });
  const amounts = (r: { usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }) => ({ vms: r.usedVms, vcpus: r.usedVcpus, memoryMiB: r.usedMemoryMiB, diskGiB: r.usedDiskGiB });
  // Personal VMs count against their owner's quota; class VMs against their class's budget.
  const userDrift = diffQuotaUsage(
    quotas.map((q) => ({ userId: q.userId, used: amounts(q) })),
    holding.filter((v) => v.classId === null),
  );
  const classDrift = diffQuotaUsage(
    classes.map((c) => ({ userId: c.id, used: amounts(c) })),
    holding.filter((v) => v.classId !== null).map((v) => ({ ...v, ownerId: v.classId! })),
  );
  const data = (d: QuotaDrift) => ({ usedVms: d.actual.vms, usedVcpus: d.actual.vcpus, usedMemoryMiB: d.actual.memoryMiB, usedDiskGiB: d.actual.diskGiB });
  for (const d of userDrift) await tx.quota.update({ where: { userId: d.userId }, data: data(d) });
  for (const d of classDrift) await tx.class.update({ where: { id: d.userId }, data: data(d) });
  // Teaching ledgers (locked after the classes, the order of changeClassBudget): the budgets of each
  // owner's live classes. An owner with classes but no row gets one, so no budget goes unrecorded.
  await tx.$executeRaw`INSERT INTO "TeachingQuota" ("userId", "updatedAt") SELECT DISTINCT "ownerId", now() FROM "Class" WHERE "expiredAt" IS NULL ON CONFLICT DO NOTHING`;
  const ledgers = await tx.$queryRaw<Array<{ userId: string; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
    SELECT "userId", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB" FROM "TeachingQuota" FOR UPDATE`;
  const liveBudgets = await tx.class.findMany({ where: { expiredAt: null }, select: { ownerId: true, maxVms: true, maxVcpus: true, maxMemoryMiB: true, maxDiskGiB: true } });
  const teachingDrift = diffTeachingUsage(
    ledgers.map((l) => ({ userId: l.userId, used: amounts(l) })),
    liveBudgets.map((c) => ({ ownerId: c.ownerId, budget: { vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB } })),
  );
  for (const d of teachingDrift) await tx.teachingQuota.update({ where: { userId: d.userId }, data: data(d) });
  return [...userDrift, ...classDrift.map((d) => ({ ...d, userId: `class:${d.userId}` })), ...teachingDrift.map((d) => ({ ...d, userId: `teaching:${d.userId}` }))];
}
