/**
 * VM use-cases. A request never touches a hypervisor: it checks, reserves and records an operation in
 * one transaction; server/jobs performs it.
 */
import { randomUUID } from "node:crypto";
import { checkHostname, checkUserData, defaultHostname, type CloudInitConfig } from "../domain/cloud-init.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, imageScope, vmScope } from "../domain/policy.ts";
import { place } from "../domain/placement.ts";
import { vmCost } from "../domain/quota.ts";
import { expiryWarning } from "../domain/schedule.ts";
import { assertActionAllowed, type VmAction, type VmState } from "../domain/vm-state.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { allocatePcpus, chosenHostOrThrow, loadFleet, lockPlacement } from "./fleet-service.ts";
import { usableFlavorOrThrow } from "./flavor-service.ts";
import { enqueueVmOperation, operationSelect } from "./operation-service.ts";
import { reserveQuota } from "./quota-service.ts";
import { initialLeaseExpiry } from "../domain/lease.ts";
import { leasePolicy } from "./lease-service.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { resolveSshKeysForVm } from "./ssh-key-service.ts";

export const vmSelect = {
  id: true,
  name: true,
  ownerId: true,
  state: true,
  observedState: true,
  observedAt: true,
  stateMessage: true,
  guestReadyAt: true,
  vcpus: true,
  memoryMiB: true,
  diskGiB: true,
  flavor: { select: { id: true, name: true } },
  maxVcpus: true,
  maxMemoryMiB: true,
  domainName: true,
  createdAt: true,
  updatedAt: true,
  owner: { select: { id: true, username: true } },
  host: { select: { id: true, name: true, domainType: true } },
  image: { select: { id: true, name: true, format: true } },
  activeOperationId: true,
  ha: true,
  haPriority: true,
  haError: true,
  haFencingRequired: true,
  leaseExpiresAt: true,
  leaseWarnedAt: true,
  leaseExtendedDays: true,
  class: { select: { id: true, name: true, frozenAt: true, expiresAt: true, expiryWarnDays: true } },
} as const;

/** What a VM's card says about its class: name, freeze, and the expiry warning students must see. */
function classInfo(c: { id: string; name: string; frozenAt: Date | null; expiresAt: Date | null; expiryWarnDays: number } | null, now: Date) {
  return c ? { id: c.id, name: c.name, frozen: c.frozenAt !== null, expiryWarning: expiryWarning(c.expiresAt, now, c.expiryWarnDays) } : null;
}

export interface TCreateVm {
  name: string;
  imageId: string;
  /** Live resize ceilings (hot-plug, balloon); default: the size itself. Not with a flavor. */
  maxVcpus?: number;
  maxMemoryMiB?: number;
  /** The size and tuning come from this flavor; without one, vcpus, memoryMiB and diskGiB are required. */
  flavorId?: string;
  vcpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
  /** Admins only: this host instead of the one placement would choose (still checked for fit). */
  hostId?: string;
  /** A NoCloud seed disc: host name, the actor's own SSH keys (all, or by id), user-data. */
  cloudInit?: { hostname?: string; userData?: string; sshKeys?: "all" | string[] };
}

export interface TListVms {
  all?: boolean;
  /** At most this many VMs; without it, all of them (the portal's live VM list still reads them all). */
  limit?: number;
  /** The id of the last VM of the previous page: the page starts after it. */
  cursor?: string;
}

/**
 * The actor's VMs (admins with `all`: everyone's), oldest first, ties by id: a total order, so a page
 * started after `cursor` neither repeats nor skips a VM. The cursor is looked up in the same scope as
 * the list, deleted VMs included (one deleted between two pages still marks the place), and a cursor
 * outside it is refused like an unknown one, so it tells nothing about other people's VMs.
 */
export async function listVms(ctx: ServiceContext, input: TListVms = {}) {
  authorize(ctx.actor, input.all ? "vm.listAll" : "vm.list");
  const scope = input.all ? vmScope(ctx.actor) : { ownerId: ctx.actor.id };
  const after = input.cursor ? await ctx.db.vm.findFirst({ where: { id: input.cursor, ...scope }, select: { id: true, createdAt: true } }) : null;
  if (input.cursor && !after) throw new AppError("BAD_REQUEST", "cursor is not a VM of this list", { field: "cursor" });
  // (createdAt, id) > the cursor's, spelled out; the `gte` bound lets the index scan start at the page.
  const page = after ? { createdAt: { gte: after.createdAt }, OR: [{ createdAt: { gt: after.createdAt } }, { id: { gt: after.id } }] } : {};
  const vms = await ctx.db.vm.findMany({
    where: { AND: [scope, page], deletedAt: null },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    take: input.limit,
    select: vmSelect,
  });
  const activeIds = vms.map((v) => v.activeOperationId).filter((id): id is string => id !== null);
  const ops = activeIds.length ? await ctx.db.operation.findMany({ where: { id: { in: activeIds } }, select: operationSelect }) : [];
  const byId = new Map(ops.map((o) => [o.id, o]));
  const now = new Date();
  return vms.map((v) => ({ ...v, class: classInfo(v.class, now), activeOperation: (v.activeOperationId && byId.get(v.activeOperationId)) || null }));
}

/** Loads a VM the actor may see, or 404 — whether it does not exist or is someone else's. */
export async function getVm(ctx: ServiceContext, id: string) {
  const found = await ctx.db.vm.findFirst({
    where: { id, deletedAt: null, ...vmScope(ctx.actor) },
    select: { ...vmSelect, class: { select: { ...vmAccessSelect.class.select, ...vmSelect.class.select } } },
  });
  if (!found) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.read", vmTarget(found));
  const vm = { ...found, class: classInfo(found.class, new Date()) };
  const activeOperation = vm.activeOperationId
    ? await ctx.db.operation.findUnique({ where: { id: vm.activeOperationId }, select: operationSelect })
    : null;
  return { ...vm, activeOperation };
}

/** The size a create asks for: its flavor's (a size given beside it must match), or the one given. */
async function requestedSize(ctx: ServiceContext, input: TCreateVm) {
  if (input.flavorId === undefined) {
    if (input.vcpus === undefined || input.memoryMiB === undefined || input.diskGiB === undefined) {
      throw new AppError("BAD_REQUEST", "give a flavorId, or vcpus, memoryMiB and diskGiB");
    }
    return { vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB, flavor: null };
  }
  const flavor = await usableFlavorOrThrow(ctx, ctx.db, input.flavorId);
  for (const key of ["vcpus", "memoryMiB", "diskGiB"] as const) {
    if (input[key] !== undefined && input[key] !== flavor[key]) {
      throw new AppError("BAD_REQUEST", `${key} comes from flavor "${flavor.name}" (${flavor[key]}): leave it out`, { field: key });
    }
  }
  if (input.maxVcpus !== undefined || input.maxMemoryMiB !== undefined) throw new AppError("BAD_REQUEST", "a flavor fixes the size: maxVcpus and maxMemoryMiB are not taken with one");
  return { vcpus: flavor.vcpus, memoryMiB: flavor.memoryMiB, diskGiB: flavor.diskGiB, flavor };
}

export async function createVm(ctx: ServiceContext, requested: TCreateVm) {
  authorize(ctx.actor, "vm.create");
  if (requested.hostId !== undefined) authorize(ctx.actor, "host.pin");
  const { flavor, ...size } = await requestedSize(ctx, requested);
  const input = { ...requested, ...size };
  const tuning = flavor?.tuning;
  // A flavor passing PCI devices through fits only the hosts that have them.
  const deviceHosts = tuning && tuning.hostDevices.length > 0 ? new Set(tuning.hostDevices.map((d) => d.split("/")[0]!)) : null;
  // Scoped: another tenant's private image is simply not found.
  const image = await ctx.db.image.findFirst({ where: { id: input.imageId, ...imageScope(ctx.actor) }, select: { id: true, name: true, format: true, minDiskGiB: true, hostId: true, shared: true, path: true } });
  if (!image) throw new AppError("NOT_FOUND", "image not found");
  if (input.diskGiB < image.minDiskGiB) {
    throw new AppError("BAD_REQUEST", `diskGiB must be at least ${image.minDiskGiB} for image ${image.name}`, { field: "diskGiB" });
  }
  const id = randomUUID();
  const cost = vmCost(input);
  const cloudInit = input.cloudInit ? await cloudInitConfig(ctx, id, input.name, input.cloudInit) : null;
  // The audit log records what was asked, not the user-data itself (it may hold secrets).
  const auditInput = input.cloudInit ? { ...input, cloudInit: { ...input.cloudInit, userData: input.cloudInit.userData === undefined ? undefined : `${Buffer.byteLength(input.cloudInit.userData)} bytes` } } : input;
  try {
    const { vm, operation } = await ctx.db.$transaction(async (tx) => {
      await reserveQuota(tx, ctx.actor.id, cost);
      await lockPlacement(tx);
      const fleet = await loadFleet(tx, image);
      const { hostId } = chosenHostOrThrow(
        place(fleet.hosts, {
          vcpus: input.vcpus,
          memoryMiB: input.memoryMiB,
          diskGiB: input.diskGiB,
          image: fleet.image,
          pinnedHostId: input.hostId,
          ...(tuning?.dedicatedCpus ? { dedicatedCpus: input.vcpus } : {}),
          ...(tuning?.hugepagesKiB ? { hugepages: { sizeKiB: tuning.hugepagesKiB, pages: Math.ceil((input.memoryMiB * 1024) / tuning.hugepagesKiB) } } : {}),
          ...(deviceHosts ? { excludeHostIds: new Set(fleet.hosts.filter((h) => !deviceHosts.has(h.id)).map((h) => h.id)) } : {}),
        }),
      );
      const vm = await tx.vm.create({
        data: {
          id,
          name: input.name,
          ownerId: ctx.actor.id,
          hostId,
          imageId: image.id,
          vcpus: input.vcpus,
          memoryMiB: input.memoryMiB,
          diskGiB: input.diskGiB,
          maxVcpus: input.maxVcpus && input.maxVcpus > input.vcpus ? input.maxVcpus : null,
          maxMemoryMiB: input.maxMemoryMiB && input.maxMemoryMiB > input.memoryMiB ? input.maxMemoryMiB : null,
          domainName: `vmdesk-${id}`,
          flavorId: flavor?.id ?? null,
          state: "provisioning",
          leaseExpiresAt: initialLeaseExpiry(await leasePolicy(tx), ctx.actor.role, new Date()),
          ...(cloudInit ? { cloudInit: { ...cloudInit } } : {}),
        },
        select: { id: true },
      });
      if (tuning?.dedicatedCpus) await allocatePcpus(tx, hostId, vm.id, input.vcpus);
      const operation = await enqueueVmOperation(tx, { vmId: vm.id, hostId, kind: "create", requestedById: ctx.actor.id });
      await notifyVmChanged(tx, { vmId: vm.id, ownerId: ctx.actor.id });
      return { vm, operation };
    });
    await auditAs(ctx, { action: "vm.create", targetType: "vm", targetId: vm.id, result: "ok", detail: { ...auditInput } });
    return { vm: await getVm(ctx, vm.id), operation };
  } catch (err) {
    if (err instanceof AppError) {
      await auditAs(ctx, { action: "vm.create", targetType: "vm", result: "denied", detail: { ...auditInput, reason: err.message } });
    }
    throw err;
  }
}

/**
 * What the VM row keeps for its seed, checked again here (the API validated it; other callers may
 * not have): a valid host name (default: from the VM's name), valid user-data, and copies of the
 * actor's chosen keys, so the seed never changes when a key is deleted later.
 */
async function cloudInitConfig(ctx: ServiceContext, vmId: string, vmName: string, input: NonNullable<TCreateVm["cloudInit"]>): Promise<CloudInitConfig> {
  const hostname = input.hostname ?? defaultHostname(vmName, vmId);
  const checkedName = checkHostname(hostname);
  if (!checkedName.ok) throw new AppError("BAD_REQUEST", checkedName.reason, { field: "cloudInit.hostname" });
  if (input.userData !== undefined) {
    const checked = checkUserData(input.userData);
    if (!checked.ok) throw new AppError("BAD_REQUEST", checked.reason, { field: "cloudInit.userData" });
  }
  const sshKeys = await resolveSshKeysForVm(ctx.db, ctx.actor.id, input.sshKeys);
  return { hostname, userData: input.userData ?? null, sshKeys };
}

export interface TVmActionInput {
  force?: boolean;
  timeoutS?: number;
  /** libvirt snapshot name, for snapshot and revert */
  snapshot?: string;
}

const ACTION_PARAMS: Partial<Record<VmAction, (input: TVmActionInput) => Record<string, unknown>>> = {
  shutdown: (i) => ({ force: i.force ?? false, timeoutS: i.timeoutS }),
  revert: (i) => ({ snapshot: i.snapshot }),
  snapshot: (i) => ({ snapshot: i.snapshot }),
};

/** start | shutdown | poweroff | reboot | pause | resume | delete: checks state, records the operation. */
export async function requestVmAction(ctx: ServiceContext, vmId: string, action: VmAction, input: TVmActionInput = {}) {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) }, select: { id: true, hostId: true, state: true, activeOperationId: true, ...vmAccessSelect } });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, `vm.${action}`, vmTarget(vm));
  try {
    if (vm.activeOperationId) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
    assertActionAllowed(vm.state as VmState, action);
    const operation = await ctx.db.$transaction(async (tx) => {
      const op = await enqueueVmOperation(tx, { vmId, hostId: vm.hostId, kind: action, params: ACTION_PARAMS[action]?.(input), requestedById: ctx.actor.id });
      if (action === "delete") await tx.vm.update({ where: { id: vmId }, data: { state: "deleting" } });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return op;
    });
    await auditAs(ctx, { action: `vm.${action}`, targetType: "vm", targetId: vmId, result: "ok", detail: { ...input } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: `vm.${action}`, targetType: "vm", targetId: vmId, result: "denied", detail: { reason: err.message } });
    throw err;
  }
}
