/**
 * Live migration requests: where a running VM may go (placement, excluding its own host; an admin
 * may name the host) and the queued operation that moves it. The destination's capacity is held from
 * the request on (Vm.targetHostId), under the placement lock, so two migrations or a migration and a
 * create cannot both count the same free memory there.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Db } from "../db/client.ts";
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

export const migrationVmSelect = {
  id: true,
  name: true,
  hostId: true,
  state: true,
  activeOperationId: true,
  vcpus: true,
  memoryMiB: true,
  diskGiB: true,
  image: { select: { id: true, name: true, hostId: true, shared: true, path: true } },
  ...vmAccessSelect,
} as const;

export type MigrationVm = Prisma.VmGetPayload<{ select: typeof migrationVmSelect }>;

/**
 * Checks the VM can move, places it (never on its own host; on `pinnedHostId` when given) and queues
 * the operation with the destination's capacity held, all under the placement lock. Throws AppError
 * with the reason otherwise.
 */
function queueMigration(ctx: ServiceContext, vm: MigrationVm, pinnedHostId?: string) {
  return queueMigrationBy(ctx.db, vm, { pinnedHostId, requestedById: ctx.actor.id });
}

/**
 * queueMigration for whoever asks: a user (requestedById) or the system (null: the load balancer,
 * which also limits the destinations to `onlyHostIds` and records why in the operation's params).
 */
export async function queueMigrationBy(
  db: Db,
  vm: MigrationVm,
  opts: { pinnedHostId?: string; requestedById: string | null; onlyHostIds?: ReadonlySet<string>; reason?: string },
) {
  const { pinnedHostId } = opts;
  if (vm.activeOperationId) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
  assertActionAllowed(vm.state as VmState, "migrate");
  if (pinnedHostId === vm.hostId) throw new AppError("BAD_REQUEST", "the VM already runs on this host", { field: "hostId" });
  // A VM whose image was removed from the library has no backing file to find on the destination.
  if (!vm.image) throw new AppError("WRONG_STATE", "this VM's image is no longer in the library: its disk cannot be rebuilt on another host");
  const image = vm.image;
  // Dedicated pCPUs and passed-through devices belong to the source host: such a VM stays there.
  const flavor = (await db.vm.findUnique({ where: { id: vm.id }, select: { flavor: { select: { dedicatedCpus: true, hugepagesKiB: true, _count: { select: { hostDevices: true } } } } } }))?.flavor;
  if (flavor?.dedicatedCpus || (flavor?._count.hostDevices ?? 0) > 0) {
    throw new AppError("CONFLICT", "a VM whose flavor has dedicated CPUs or PCI devices is not live-migrated: they are allocated on its host");
  }
  return db.$transaction(async (tx) => {
    await lockPlacement(tx);
    const fleet = await loadFleet(tx, image, { sameImagePathAs: vm.hostId });
    const only = opts.onlyHostIds;
    const { hostId, hostName } = chosenHostOrThrow(
      place(fleet.hosts, {
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        diskGiB: vm.diskGiB,
        image: fleet.image,
        ...(flavor?.hugepagesKiB ? { hugepages: { sizeKiB: flavor.hugepagesKiB, pages: Math.ceil((vm.memoryMiB * 1024) / flavor.hugepagesKiB) } } : {}),
        excludeHostIds: new Set([vm.hostId, ...(only ? fleet.hosts.filter((h) => !only.has(h.id)).map((h) => h.id) : [])]),
        pinnedHostId,
      }),
    );
    const operation = await enqueueVmOperation(tx, { vmId: vm.id, hostId: vm.hostId, kind: "migrate", params: { destHostId: hostId, ...(opts.reason ? { reason: opts.reason } : {}) }, requestedById: opts.requestedById });
    await tx.vm.update({ where: { id: vm.id }, data: { targetHostId: hostId } });
    await notifyVmChanged(tx, { vmId: vm.id, ownerId: vm.ownerId });
    return { operation, hostId, hostName };
  });
}

export async function migrateVm(ctx: ServiceContext, vmId: string, input: { hostId?: string }) {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) }, select: migrationVmSelect });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.migrate", vmTarget(vm));
  try {
    const { operation, hostId } = await queueMigration(ctx, vm, input.hostId);
    await auditAs(ctx, { action: "vm.migrate", targetType: "vm", targetId: vmId, result: "ok", detail: { from: vm.hostId, to: hostId, pinned: input.hostId ?? null } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.migrate", targetType: "vm", targetId: vmId, result: "denied", detail: { reason: err.message } });
    throw err;
  }
}

/**
 * Maintenance on: the host takes no new VMs (placement refuses it) and every VM on it is asked to
 * move: running and paused ones are live-migrated where placement says; the others are listed with
 * the reason they stay (a stopped VM would need a cold move, which vmdesk does not do yet; a VM busy
 * with another operation can be moved by turning maintenance on again once it is idle). Idempotent:
 * VMs already on their way are counted, not queued twice. Maintenance off re-opens the host.
 */
export async function setHostMaintenance(ctx: ServiceContext, hostId: string, enabled: boolean) {
  authorize(ctx.actor, "host.manage");
  const host = await ctx.db.host.findUnique({ where: { id: hostId }, select: { id: true, name: true } });
  if (!host) throw new AppError("NOT_FOUND", "host not found");
  await ctx.db.host.update({ where: { id: hostId }, data: { maintenance: enabled } });
  const queued: { vmId: string; name: string; operationId: string; to: string }[] = [];
  const moving: { vmId: string; name: string }[] = [];
  const staying: { vmId: string; name: string; reason: string }[] = [];
  if (enabled) {
    const vms = await ctx.db.vm.findMany({ where: { hostId, deletedAt: null }, select: { ...migrationVmSelect, targetHostId: true }, orderBy: { createdAt: "asc" } });
    for (const vm of vms) {
      if (vm.targetHostId) {
        moving.push({ vmId: vm.id, name: vm.name });
        continue;
      }
      try {
        const { operation, hostName } = await queueMigration(ctx, vm);
        queued.push({ vmId: vm.id, name: vm.name, operationId: operation.id, to: hostName });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        const reason = err.code === "WRONG_STATE" && vm.state === "stopped" ? "stopped: only running or paused VMs are live-migrated; it stays on this host" : err.message;
        staying.push({ vmId: vm.id, name: vm.name, reason });
      }
    }
  }
  await auditAs(ctx, { action: enabled ? "host.maintenance.on" : "host.maintenance.off", targetType: "host", targetId: hostId, result: "ok", detail: { queued: queued.length, moving: moving.length, staying: staying.length } });
  return { host, maintenance: enabled, queued, moving, staying };
}
