/**
 * Resizing a personal VM within quota. The request checks what the VM's state allows
 * (domain/resize.ts), reserves the difference in the owner's ledger (a shrink gives back) and sets
 * the VM's row to the new size in one transaction with the `resize` operation, so racing requests
 * cannot overshoot the quota and the row always says what the quota holds; the worker applies it
 * (jobs/operations/handlers.ts), and a resize that fails for good puts row and quota back.
 *
 * A VM made from a flavor changes size by changing flavor (its size is the flavor's); one whose new
 * flavor has other tuning must be stopped (the tuning is in its definition only), and its dedicated
 * pCPUs are given back or taken on its host under the placement lock in the same transaction.
 */
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { planResize, type ResizeRequest } from "../domain/resize.ts";
import { assertTuningChangeAllowed, NO_TUNING, tuningChanges, type FlavorTuning } from "../domain/flavor.ts";
import { allocatePcpus, assertHostRoomForGrowth, lockPlacement, releasePcpus } from "./fleet-service.ts";
import { flavorSizeAndTuning, usableFlavorOrThrow } from "./flavor-service.ts";
import type { VmState } from "../domain/vm-state.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { reserveQuota } from "./quota-service.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { getVm } from "./vm-service.ts";

export interface TResizeVm extends ResizeRequest {
  /** A flavor to take (its size and tuning); null: leave the flavor, keeping the size given. */
  flavorId?: string | null;
}

/** What a change of flavor asks for: the new size (a size given beside it must match) and the tuning that changes. */
async function flavorChange(ctx: ServiceContext, vm: { flavorId: string | null }, req: TResizeVm) {
  if (req.flavorId === undefined) {
    if (vm.flavorId !== null) throw new AppError("BAD_REQUEST", "this VM's size comes from its flavor: give another flavorId (or flavorId null to leave it)", { field: "flavorId" });
    return { size: req, flavorId: undefined, tuning: null, changes: [] as string[] };
  }
  const from: FlavorTuning = (vm.flavorId ? (await flavorSizeAndTuning(ctx.db, vm.flavorId))?.tuning : undefined) ?? NO_TUNING;
  if (req.flavorId === null) return { size: req, flavorId: null, tuning: null, changes: tuningChanges(from, NO_TUNING) };
  const flavor = await usableFlavorOrThrow(ctx, ctx.db, req.flavorId);
  for (const key of ["vcpus", "memoryMiB", "diskGiB"] as const) {
    if (req[key] !== undefined && req[key] !== flavor[key]) throw new AppError("BAD_REQUEST", `${key} comes from flavor "${flavor.name}" (${flavor[key]}): leave it out`, { field: key });
  }
  return { size: { vcpus: flavor.vcpus, memoryMiB: flavor.memoryMiB, diskGiB: flavor.diskGiB }, flavorId: flavor.id, tuning: flavor.tuning, changes: tuningChanges(from, flavor.tuning) };
}

export async function resizeVm(ctx: ServiceContext, vmId: string, req: TResizeVm) {
  const vm = await ctx.db.vm.findFirst({
    where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) },
    select: { id: true, hostId: true, imageId: true, state: true, activeOperationId: true, classId: true, vcpus: true, memoryMiB: true, diskGiB: true, maxVcpus: true, maxMemoryMiB: true, flavorId: true, cpuAllocations: { select: { pcpu: true } }, ...vmAccessSelect },
  });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.resize", vmTarget(vm));
  try {
    if (vm.classId) throw new AppError("CONFLICT", "a class VM's size is set by its class");
    if (vm.activeOperationId) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
    const change = await flavorChange(ctx, vm, req);
    assertTuningChangeAllowed(vm.state, change.changes);
    const flavorChanges = change.flavorId !== undefined && change.flavorId !== vm.flavorId;
    const plan = planResize({ ...vm, state: vm.state as VmState }, change.size, { tuningChanges: flavorChanges });
    const fromPcpus = vm.cpuAllocations.map((a) => a.pcpu);
    const operation = await ctx.db.$transaction(async (tx) => {
      await reserveQuota(tx, vm.ownerId, plan.delta);
      const grows = plan.delta.vcpus > 0 || plan.delta.memoryMiB > 0 || plan.delta.diskGiB > 0;
      if (grows || flavorChanges) await lockPlacement(tx);
      // Quota bounds the owner; the host bounds everyone on it: growth must fit there too.
      if (grows) await assertHostRoomForGrowth(tx, vm, plan.delta);
      if (flavorChanges) {
        // Dedicated pCPUs follow the new flavor on this host: given back, or taken (409 when too few are free).
        await releasePcpus(tx, vmId);
        if (change.tuning?.dedicatedCpus) await allocatePcpus(tx, vm.hostId, vmId, plan.to.vcpus);
      }
      const op = await enqueueVmOperation(tx, {
        vmId,
        hostId: vm.hostId,
        kind: "resize",
        params: {
          from: plan.from,
          to: plan.to,
          delta: plan.delta,
          ...(flavorChanges ? { fromFlavorId: vm.flavorId, toFlavorId: change.flavorId, fromPcpus, redefine: change.changes.length > 0 } : {}),
        },
        requestedById: ctx.actor.id,
      });
      await tx.vm.update({
        where: { id: vmId },
        data: {
          ...plan.to,
          ...(flavorChanges ? { flavorId: change.flavorId } : {}),
          // Stopped, a VM may pass its live ceilings: they follow (never below the size).
          ...(vm.maxVcpus !== null && plan.to.vcpus > vm.maxVcpus ? { maxVcpus: plan.to.vcpus } : {}),
          ...(vm.maxMemoryMiB !== null && plan.to.memoryMiB > vm.maxMemoryMiB ? { maxMemoryMiB: plan.to.memoryMiB } : {}),
        },
      });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return op;
    });
    await auditAs(ctx, { action: "vm.resize", targetType: "vm", targetId: vmId, result: "ok", detail: { from: plan.from, to: plan.to, live: plan.live, ...(flavorChanges ? { fromFlavorId: vm.flavorId, toFlavorId: change.flavorId, tuningChanges: change.changes } : {}) } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.resize", targetType: "vm", targetId: vmId, result: "denied", detail: { ...req, reason: err.message } });
    throw err;
  }
}
