/**
 * Bulk actions on a class's VMs: start, stop, reset and delete for a selection or all, named
 * checkpoints (a snapshot of every VM) and reverts to them, and the exam freeze. Each queues one
 * operation per VM and reports what it skipped and why; the scheduler runs the same actions on a
 * class's timetable.
 */
import { randomBytes } from "node:crypto";
import { Prisma } from "../../prisma/generated/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { actionAllowed, type VmAction, type VmState } from "../domain/vm-state.ts";
import { SUBMISSION_SNAPSHOT } from "../domain/submissions.ts";
import { auditAs } from "./audit-service.ts";
import { loadClass } from "./class-access.ts";
import type { ServiceContext } from "./context.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { requestVmAction } from "./vm-service.ts";

export type BulkAction = "start" | "stop" | "reset" | "delete" | "snapshot" | "revert" | "freeze";

const BULK_OPERATION: Record<BulkAction, { kind: "start" | "shutdown" | "reset" | "delete" | "snapshot" | "revert" | "freeze"; needs: VmAction | null; params?: Record<string, unknown> }> = {
  start: { kind: "start", needs: "start" },
  stop: { kind: "shutdown", needs: "shutdown", params: { force: true, timeoutS: 30 } },
  reset: { kind: "reset", needs: "reset" },
  delete: { kind: "delete", needs: "delete" },
  snapshot: { kind: "snapshot", needs: "snapshot" },
  revert: { kind: "revert", needs: "revert" },
  freeze: { kind: "freeze", needs: null },
};

/** Who queues a bulk action: a teacher (through a service call) or the scheduler (no user). */
export interface BulkCaller {
  db: ServiceContext["db"];
  requestedById: string | null;
}

/**
 * Queues one operation per selected student VM. VMs that are busy or in a state that does not allow
 * the action are skipped with the reason (a bulk action never fails half-way).
 */
export async function bulkAction(ctx: BulkCaller, id: string, action: BulkAction, input: { userIds?: string[]; snapshot?: string } = {}) {
  const vms = await ctx.db.vm.findMany({
    where: { classId: id, deletedAt: null, ...(input.userIds ? { ownerId: { in: input.userIds } } : {}) },
    select: { id: true, ownerId: true, hostId: true, state: true, activeOperationId: true, owner: { select: { username: true } } },
  });
  const spec = BULK_OPERATION[action];
  const queued: Array<{ username: string; operationId: string }> = [];
  const skipped: Array<{ username: string; reason: string }> = [];
  for (const vm of vms) {
    if (action === "stop" && vm.state === "paused") {
      // stop also covers paused VMs: a hard power-off
    } else if (spec.needs && !actionAllowed(vm.state as VmState, spec.needs)) {
      if (!(action === "start" && vm.state === "running") && !(action === "stop" && vm.state === "stopped")) skipped.push({ username: vm.owner.username, reason: `VM is ${vm.state}` });
      continue;
    }
    if (action === "freeze" && (vm.state === "provisioning" || vm.state === "deleting" || vm.state === "missing")) {
      skipped.push({ username: vm.owner.username, reason: `VM is ${vm.state}` });
      continue;
    }
    try {
      const op = await ctx.db.$transaction(async (tx) => {
        const kind = action === "stop" && vm.state === "paused" ? "poweroff" : spec.kind;
        const o = await enqueueVmOperation(tx, { vmId: vm.id, hostId: vm.hostId, kind, params: { ...spec.params, ...(input.snapshot ? { snapshot: input.snapshot } : {}) }, requestedById: ctx.requestedById });
        if (action === "delete") await tx.vm.update({ where: { id: vm.id }, data: { state: "deleting" } });
        await notifyVmChanged(tx, { vmId: vm.id, ownerId: vm.ownerId });
        return o;
      });
      queued.push({ username: vm.owner.username, operationId: op.id });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      skipped.push({ username: vm.owner.username, reason: err.message });
    }
  }
  return { queued, skipped };
}

/** Teacher-facing bulk action with authorization and audit. */
export async function classAction(ctx: ServiceContext, id: string, action: "start" | "stop" | "reset" | "delete", input: { userIds?: string[] }) {
  await loadClass(ctx, id, "class.manage");
  const result = await bulkAction(asCaller(ctx), id, action, input);
  await auditAs(ctx, { action: `class.${action}`, targetType: "class", targetId: id, result: "ok", detail: { queued: result.queued.length, skipped: result.skipped } });
  return result;
}

const SNAPSHOT_SAFE = /[^A-Za-z0-9_.-]/g;

/** A teacher's service call as the caller of a bulk action. */
export function asCaller(ctx: ServiceContext): BulkCaller {
  return { db: ctx.db, requestedById: ctx.actor.id };
}

/** A named class checkpoint: a snapshot of every student VM. */
export async function createCheckpoint(ctx: ServiceContext, id: string, name: string) {
  await loadClass(ctx, id, "class.manage");
  const snapshot = `ckpt-${name.replace(SNAPSHOT_SAFE, "_").slice(0, 40)}-${randomBytes(3).toString("hex")}`;
  let checkpoint;
  try {
    checkpoint = await ctx.db.classCheckpoint.create({ data: { classId: id, name, snapshot }, select: { id: true, name: true, kind: true, createdAt: true } });
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new AppError("CONFLICT", `a checkpoint named "${name}" exists`);
    throw err;
  }
  const result = await bulkAction(asCaller(ctx), id, "snapshot", { snapshot });
  await auditAs(ctx, { action: "class.checkpoint", targetType: "class", targetId: id, result: "ok", detail: { name, queued: result.queued.length } });
  return { ...checkpoint, ...result };
}

/** Reverts one VM, a selection, or all to a checkpoint. */
export async function revertCheckpoint(ctx: ServiceContext, id: string, checkpointId: string, input: { userIds?: string[] }) {
  await loadClass(ctx, id, "class.manage");
  const cp = await ctx.db.classCheckpoint.findFirst({ where: { id: checkpointId, classId: id }, select: { snapshot: true, name: true } });
  if (!cp) throw new AppError("NOT_FOUND", "checkpoint not found");
  const result = await bulkAction(asCaller(ctx), id, "revert", { ...input, snapshot: cp.snapshot });
  await auditAs(ctx, { action: "class.revert", targetType: "class", targetId: id, result: "ok", detail: { checkpoint: cp.name, queued: result.queued.length } });
  return result;
}

export { SUBMISSION_SNAPSHOT };

/**
 * Exam freeze: student actions are locked at once (frozenAt, checked by the policy), then every VM
 * is shut down and a "submission" snapshot taken through the queue.
 */
export async function freezeClass(ctx: ServiceContext, id: string, now = new Date()) {
  await loadClass(ctx, id, "class.manage");
  const result = await applyFreeze(asCaller(ctx), id, now);
  await auditAs(ctx, { action: "class.freeze", targetType: "class", targetId: id, result: "ok", detail: { queued: result.queued.length } });
  return result;
}

/** The freeze itself, also run by the scheduler at a class's freeze deadline. */
export async function applyFreeze(caller: BulkCaller, id: string, now: Date) {
  await caller.db.class.update({ where: { id }, data: { frozenAt: now } });
  await caller.db.classCheckpoint.upsert({
    where: { classId_name: { classId: id, name: "submission" } },
    create: { classId: id, name: "submission", snapshot: SUBMISSION_SNAPSHOT, kind: "submission" },
    update: {},
  });
  return bulkAction(caller, id, "freeze", { snapshot: SUBMISSION_SNAPSHOT });
}

export async function unfreezeClass(ctx: ServiceContext, id: string) {
  await loadClass(ctx, id, "class.manage");
  await ctx.db.class.update({ where: { id }, data: { frozenAt: null, freezeAt: null } });
  await auditAs(ctx, { action: "class.unfreeze", targetType: "class", targetId: id, result: "ok" });
  return { id, frozen: false };
}

/** A student (if the class allows) or a teacher reverts one VM to one of its class's checkpoints. */
export async function revertVmToCheckpoint(ctx: ServiceContext, vmId: string, checkpointId: string) {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) }, select: { classId: true, ...vmAccessSelect } });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.revert", vmTarget(vm));
  const cp = vm.classId ? await ctx.db.classCheckpoint.findFirst({ where: { id: checkpointId, classId: vm.classId }, select: { snapshot: true } }) : null;
  if (!cp) throw new AppError("NOT_FOUND", "checkpoint not found for this VM");
  return requestVmAction(ctx, vmId, "revert", { snapshot: cp.snapshot });
}
