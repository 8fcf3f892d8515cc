/**
 * Resizing a personal VM within quota. The request checks what the VM's state allows
 * (domain/resize.ts), reserves the difference in the owner's ledger (a shrink gives back) and sets
 * the VM's row to the new size in one transaction with the `resize` operation, so racing requests
 * cannot overshoot the quota and the row always says what the quota holds; the worker applies it
 * (jobs/operations/handlers.ts), and a resize that fails for good puts row and quota back.
 */
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { planResize, type ResizeRequest } from "../domain/resize.ts";
import type { VmState } from "../domain/vm-state.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { reserveQuota } from "./quota-service.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { getVm } from "./vm-service.ts";

export async function resizeVm(ctx: ServiceContext, vmId: string, req: ResizeRequest) {
  const vm = await ctx.db.vm.findFirst({
    where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) },
    select: { id: true, hostId: true, state: true, activeOperationId: true, classId: true, vcpus: true, memoryMiB: true, diskGiB: true, maxVcpus: true, maxMemoryMiB: true, ...vmAccessSelect },
  });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.resize", vmTarget(vm));
  try {
    if (vm.classId) throw new AppError("CONFLICT", "a class VM's size is set by its class");
    if (vm.activeOperationId) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
    const plan = planResize({ ...vm, state: vm.state as VmState }, req);
    const operation = await ctx.db.$transaction(async (tx) => {
      await reserveQuota(tx, vm.ownerId, plan.delta);
      const op = await enqueueVmOperation(tx, {
        vmId,
        hostId: vm.hostId,
        kind: "resize",
        params: { from: plan.from, to: plan.to, delta: plan.delta },
        requestedById: ctx.actor.id,
      });
      await tx.vm.update({
        where: { id: vmId },
        data: {
          ...plan.to,
          // Stopped, a VM may pass its live ceilings: they follow (never below the size).
          ...(vm.maxVcpus !== null && plan.to.vcpus > vm.maxVcpus ? { maxVcpus: plan.to.vcpus } : {}),
          ...(vm.maxMemoryMiB !== null && plan.to.memoryMiB > vm.maxMemoryMiB ? { maxMemoryMiB: plan.to.memoryMiB } : {}),
        },
      });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return op;
    });
    await auditAs(ctx, { action: "vm.resize", targetType: "vm", targetId: vmId, result: "ok", detail: { from: plan.from, to: plan.to, live: plan.live } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.resize", targetType: "vm", targetId: vmId, result: "denied", detail: { ...req, reason: err.message } });
    throw err;
  }
}
