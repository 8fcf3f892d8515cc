/**
 * Operations are the durable record of every state change: a request inserts one (queued) and a
 * worker performs it. At most one operation is active per VM: the insert and a conditional update of
 * Vm.activeOperationId happen in one transaction, so of two racing requests exactly one wins and the
 * other gets 409.
 */
import { randomUUID } from "node:crypto";
import type { Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import type { OperationKind } from "../domain/operation-kinds.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import type { ServiceContext } from "./context.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";

export const operationSelect = {
  id: true,
  kind: true,
  status: true,
  vmId: true,
  step: true,
  progress: true,
  error: true,
  attempts: true,
  params: true,
  createdAt: true,
  startedAt: true,
  finishedAt: true,
} as const;

export async function enqueueVmOperation(
  tx: Tx,
  input: { vmId: string; hostId: string; kind: OperationKind; params?: Record<string, unknown>; requestedById: string | null },
) {
  // Claim the VM first: the conditional update takes the row's exclusive lock before the operation's
  // foreign key takes a shared one, so racing requests queue on the lock instead of deadlocking, and
  // the loser re-reads activeOperationId (no longer null) and gets 409.
  const id = randomUUID();
  const claimed = await tx.vm.updateMany({ where: { id: input.vmId, activeOperationId: null }, data: { activeOperationId: id } });
  if (claimed.count === 0) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
  return tx.operation.create({
    data: { id, kind: input.kind, vmId: input.vmId, hostId: input.hostId, params: (input.params ?? {}) as object, requestedById: input.requestedById },
    select: operationSelect,
  });
}

/** An operation is visible to whoever may see its VM. */
export async function getOperation(ctx: ServiceContext, id: string) {
  // Scoped in the query: someone else's operation is simply not found.
  const scope = vmScope(ctx.actor);
  const op = await ctx.db.operation.findFirst({
    where: { id, ...(scope.OR ? { vm: scope } : {}) },
    select: { ...operationSelect, vm: { select: vmAccessSelect } },
  });
  if (!op) throw new AppError("NOT_FOUND", "operation not found");
  if (op.vm) authorize(ctx.actor, "operation.read", vmTarget(op.vm));
  const { vm: _vm, ...rest } = op;
  return rest;
}

export async function listVmOperations(ctx: ServiceContext, vmId: string, limit = 20) {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, ...vmScope(ctx.actor) }, select: vmAccessSelect });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "operation.read", vmTarget(vm));
  return ctx.db.operation.findMany({ where: { vmId }, orderBy: { createdAt: "desc" }, take: limit, select: operationSelect });
}
