/**
 * Marking a VM highly available. Only a VM whose disk lies on shared storage can be restarted on
 * another host (the HA restart starts the same disk there), so HA is refused, with the reason, for a
 * VM on a host whose pool is not shared.
 */
import { AppError } from "../domain/errors.ts";
import { assertHaPriorityAllowed } from "../domain/ha.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { getVm } from "./vm-service.ts";

export async function setVmHa(ctx: ServiceContext, vmId: string, input: { enabled: boolean; priority?: number }) {
  const vm = await ctx.db.vm.findFirst({
    where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) },
    select: { id: true, ha: true, haPriority: true, host: { select: { name: true, poolShared: true } }, ...vmAccessSelect },
  });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.ha", vmTarget(vm));
  try {
    assertHaPriorityAllowed(ctx.actor.role === "admin", input.priority, vm.haPriority);
  } catch (err) {
    await auditAs(ctx, { action: "vm.ha", targetType: "vm", targetId: vmId, result: "denied", detail: { priority: input.priority, reason: (err as Error).message } });
    throw err;
  }
  if (input.enabled && !vm.host.poolShared) {
    await auditAs(ctx, { action: "vm.ha", targetType: "vm", targetId: vmId, result: "denied", detail: { reason: "pool not shared" } });
    throw new AppError("CONFLICT", `HA needs the VM's disk on shared storage, and host ${vm.host.name}'s storage pool is not shared: migrate the VM to a host with a shared pool first`);
  }
  const priority = input.priority ?? vm.haPriority;
  await ctx.db.vm.update({ where: { id: vmId }, data: { ha: input.enabled, haPriority: priority } });
  await auditAs(ctx, { action: "vm.ha", targetType: "vm", targetId: vmId, result: "ok", detail: { enabled: input.enabled, priority, was: { enabled: vm.ha, priority: vm.haPriority } } });
  await notifyVmChanged(ctx.db, { vmId, ownerId: vm.ownerId });
  return getVm(ctx, vmId);
}
