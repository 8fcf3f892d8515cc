/**
 * Enforces leases of personal VMs (leader only, on the scheduler's timer, with an injected clock):
 * warns once per expiry (the alert evaluator turns the warning into a webhook / e-mail alert), stops
 * a VM at expiry with a durable shutdown operation (ACPI, then power off), and deletes it after the
 * grace period with a durable delete operation. Each step is decided by domain/lease.ts, claimed with
 * a conditional update or the VM's one-active-operation claim (so it happens once across processes
 * and restarts), and audited. A VM busy with another operation is simply tried again next pass.
 */
import type { Db } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { AppError } from "../domain/errors.ts";
import { leaseDeleteAt, leaseStep, type LeasePolicy } from "../domain/lease.ts";
import { log } from "../log.ts";
import { audit } from "../services/audit-service.ts";
import { leasePolicy } from "../services/lease-service.ts";
import { enqueueVmOperation } from "../services/operation-service.ts";
import type { Clock } from "./clock.ts";

const SYSTEM = { actorId: null, actorName: "leases", ip: null };
const DAY_MS = 86_400_000;
/** VMs looked at per pass (the rest follow on the next one). */
const BATCH = 500;
/** How long the ACPI shutdown at expiry may take before the VM is powered off. */
export const LEASE_SHUTDOWN_TIMEOUT_S = 60;

export async function runLeases(db: Db, clock: Clock): Promise<{ warned: number; stopped: number; deleted: number }> {
  const now = clock.now();
  const policy = await leasePolicy(db);
  const counts = { warned: 0, stopped: 0, deleted: 0 };
  const vms = await db.vm.findMany({
    where: {
      classId: null,
      deletedAt: null,
      leaseExpiresAt: { not: null, lte: new Date(now.getTime() + policy.warnDays * DAY_MS) },
      state: { notIn: ["provisioning", "deleting", "deleted"] },
    },
    select: { id: true, name: true, ownerId: true, hostId: true, state: true, leaseExpiresAt: true, leaseWarnedAt: true, activeOperationId: true },
    orderBy: { leaseExpiresAt: "asc" },
    take: BATCH,
  });
  for (const vm of vms) {
    const step = leaseStep({ expiresAt: vm.leaseExpiresAt, warnedAt: vm.leaseWarnedAt, state: vm.state }, now, policy);
    try {
      if (step === "warn" && (await warn(db, vm, now))) counts.warned++;
      else if (step === "stop" && (await act(db, vm, "shutdown", now, policy))) counts.stopped++;
      else if (step === "delete" && (await act(db, vm, "delete", now, policy))) counts.deleted++;
    } catch (err) {
      log.error({ err, vmId: vm.id, step }, "lease step failed");
    }
  }
  if (counts.warned + counts.stopped + counts.deleted > 0) log.info(counts, "leases applied");
  return counts;
}

type LeasedVm = { id: string; name: string; ownerId: string; hostId: string; leaseExpiresAt: Date | null; leaseWarnedAt: Date | null; activeOperationId: string | null };

/** Records the warning once per expiry (an extension clears it, and the next expiry warns again). */
async function warn(db: Db, vm: LeasedVm, now: Date): Promise<boolean> {
  const { count } = await db.vm.updateMany({ where: { id: vm.id, leaseWarnedAt: null, leaseExpiresAt: vm.leaseExpiresAt }, data: { leaseWarnedAt: now } });
  if (count === 0) return false;
  await notifyVmChanged(db, { vmId: vm.id, ownerId: vm.ownerId });
  await audit(db, SYSTEM, { action: "vm.lease.warn", targetType: "vm", targetId: vm.id, result: "ok", detail: { expiresAt: vm.leaseExpiresAt } });
  return true;
}

/**
 * Queues the shutdown at expiry or the delete after the grace period, through the same one-active-
 * operation claim as a user's request: false (and nothing recorded) when another operation holds the
 * VM or the lease changed since it was read (an extension wins over a stop).
 */
async function act(db: Db, vm: LeasedVm, kind: "shutdown" | "delete", now: Date, policy: LeasePolicy): Promise<boolean> {
  if (vm.activeOperationId) return false;
  try {
    const operation = await db.$transaction(async (tx) => {
      const still = await tx.vm.updateMany({
        where: { id: vm.id, deletedAt: null, leaseExpiresAt: vm.leaseExpiresAt },
        data: { leaseWarnedAt: vm.leaseWarnedAt ?? now, ...(kind === "delete" ? { state: "deleting" } : {}) },
      });
      if (still.count === 0) return null;
      const op = await enqueueVmOperation(tx, {
        vmId: vm.id,
        hostId: vm.hostId,
        kind,
        params: kind === "shutdown" ? { force: true, timeoutS: LEASE_SHUTDOWN_TIMEOUT_S, reason: "lease expired" } : { reason: "lease expired" },
        requestedById: null,
      });
      await notifyVmChanged(tx, { vmId: vm.id, ownerId: vm.ownerId });
      return op;
    });
    if (!operation) return false;
    const detail = { expiresAt: vm.leaseExpiresAt, operationId: operation.id, ...(kind === "delete" && vm.leaseExpiresAt ? { graceEndedAt: leaseDeleteAt(vm.leaseExpiresAt, policy) } : {}) };
    await audit(db, SYSTEM, { action: kind === "shutdown" ? "vm.lease.stop" : "vm.lease.delete", targetType: "vm", targetId: vm.id, result: "ok", detail });
    return true;
  } catch (err) {
    if (err instanceof AppError && err.code === "CONFLICT") return false;
    throw err;
  }
}
