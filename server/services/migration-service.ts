/**
 * Live migration requests: where a running VM may go (placement, excluding its own host; an admin
 * may name the host) and the queued operation that moves it. The destination's capacity is held from
 * the request on (Vm.targetHostId), under the placement lock, so two migrations or a migration and a
 * create cannot both count the same free memory there.
 */
import { AppError } from "../domain/errors.ts";
import { place } from "../domain/placement.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { assertActionAllowed, type VmState } from "../domain/vm-state.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { chosenHostOrThrow, loadFleet, lockPlacement } from "./fleet-service.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { getVm } from "./vm-service.ts";

export async function migrateVm(ctx: ServiceContext, vmId: string, input: { hostId?: string }) {
  const vm = await ctx.db.vm.findFirst({
    where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) },
    select: { id: true, hostId: true, state: true, activeOperationId: true, vcpus: true, memoryMiB: true, diskGiB: true, image: { select: { id: true, name: true, hostId: true, shared: true } }, ...vmAccessSelect },
  });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.migrate", vmTarget(vm));
  try {
    if (vm.activeOperationId) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
    assertActionAllowed(vm.state as VmState, "migrate");
    if (input.hostId === vm.hostId) throw new AppError("BAD_REQUEST", "the VM already runs on this host", { field: "hostId" });
    // A VM whose image was removed from the library has no backing file to find on the destination.
    if (!vm.image) throw new AppError("WRONG_STATE", "this VM's image is no longer in the library: its disk cannot be rebuilt on another host");
    const image = vm.image;
    const operation = await ctx.db.$transaction(async (tx) => {
      await lockPlacement(tx);
      const fleet = await loadFleet(tx, image);
      const { hostId } = chosenHostOrThrow(
        place(fleet, {
          vcpus: vm.vcpus,
          memoryMiB: vm.memoryMiB,
          diskGiB: vm.diskGiB,
          image: { id: image.id, name: image.name, copyable: false },
          excludeHostIds: new Set([vm.hostId]),
          pinnedHostId: input.hostId,
        }),
      );
      const op = await enqueueVmOperation(tx, { vmId, hostId: vm.hostId, kind: "migrate", params: { destHostId: hostId }, requestedById: ctx.actor.id });
      await tx.vm.update({ where: { id: vmId }, data: { targetHostId: hostId } });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return op;
    });
    await auditAs(ctx, { action: "vm.migrate", targetType: "vm", targetId: vmId, result: "ok", detail: { from: vm.hostId, to: (operation.params as { destHostId: string } | null)?.destHostId ?? null, pinned: input.hostId ?? null } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.migrate", targetType: "vm", targetId: vmId, result: "denied", detail: { reason: err.message } });
    throw err;
  }
}
