/**
 * Tenant snapshots of personal VMs: list, take, revert, delete. Like every VM use-case, a request only
 * checks, records and enqueues; the worker talks to libvirt (jobs/operations/handlers.ts: snapshot,
 * revert, snapshot-delete). A snapshot row exists from the request on ("creating"), so the quota
 * counts it at once and a name cannot be taken twice; a failed take removes it again.
 */
import { Prisma } from "../../prisma/generated/client.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope, type Action } from "../domain/policy.ts";
import { assertSnapshotFits, libvirtSnapshotName, snapshotKeepsMemory } from "../domain/snapshots.ts";
import { assertActionAllowed, type VmAction, type VmState } from "../domain/vm-state.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { lockSnapshotQuota } from "./quota-service.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { getVm } from "./vm-service.ts";

export const snapshotSelect = { id: true, name: true, memory: true, state: true, createdAt: true } as const;

/** The VM if the actor may see it and do `action` to it; 404 whether it is absent or someone else's. */
async function loadVm(ctx: ServiceContext, vmId: string, action: Action) {
  const vm = await ctx.db.vm.findFirst({
    where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) },
    select: { id: true, hostId: true, state: true, activeOperationId: true, classId: true, ...vmAccessSelect },
  });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, action, vmTarget(vm));
  return vm;
}

function personalOnly(vm: { classId: string | null }): void {
  if (vm.classId) throw new AppError("CONFLICT", "a class VM's snapshots are its class's checkpoints: ask the teacher");
}

function readyState(vm: { activeOperationId: string | null; state: string }, action: VmAction): void {
  if (vm.activeOperationId) throw new AppError("CONFLICT", "another operation is already in progress on this VM");
  assertActionAllowed(vm.state as VmState, action);
}

async function findSnapshot(ctx: ServiceContext, vmId: string, name: string) {
  const snapshot = await ctx.db.vmSnapshot.findUnique({ where: { vmId_name: { vmId, name } }, select: snapshotSelect });
  if (!snapshot) throw new AppError("NOT_FOUND", "snapshot not found");
  return snapshot;
}

export async function listVmSnapshots(ctx: ServiceContext, vmId: string) {
  await loadVm(ctx, vmId, "vm.read");
  return ctx.db.vmSnapshot.findMany({ where: { vmId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }], select: snapshotSelect });
}

/** Takes a named snapshot (with the guest's memory by default while it runs), counted in the owner's `snapshots` quota. */
export async function createVmSnapshot(ctx: ServiceContext, vmId: string, input: { name: string; memory?: boolean }) {
  const vm = await loadVm(ctx, vmId, "vm.snapshot");
  const detail = { name: input.name, memory: input.memory };
  try {
    personalOnly(vm);
    readyState(vm, "snapshot");
    const memory = snapshotKeepsMemory(vm.state as VmState, input.memory);
    const libvirtName = libvirtSnapshotName(input.name);
    const { snapshot, operation } = await ctx.db.$transaction(async (tx) => {
      const quota = await lockSnapshotQuota(tx, vm.ownerId);
      if (await tx.vmSnapshot.findUnique({ where: { vmId_name: { vmId, name: input.name } }, select: { id: true } })) {
        throw new AppError("CONFLICT", `this VM already has a snapshot named "${input.name}"`, { field: "name" });
      }
      assertSnapshotFits(quota.limit, quota.used);
      const snapshot = await tx.vmSnapshot.create({ data: { vmId, name: input.name, memory, createdById: ctx.actor.id }, select: snapshotSelect });
      const operation = await enqueueVmOperation(tx, {
        vmId,
        hostId: vm.hostId,
        kind: "snapshot",
        params: { snapshot: libvirtName, snapshotId: snapshot.id, memory },
        requestedById: ctx.actor.id,
      });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return { snapshot, operation };
    });
    await auditAs(ctx, { action: "vm.snapshot", targetType: "vm", targetId: vmId, result: "ok", detail: { ...detail, memory } });
    return { vm: await getVm(ctx, vmId), operation, snapshot };
  } catch (err) {
    const mapped = uniqueViolation(err) ? new AppError("CONFLICT", `this VM already has a snapshot named "${input.name}"`, { field: "name" }) : err;
    if (mapped instanceof AppError) await auditAs(ctx, { action: "vm.snapshot", targetType: "vm", targetId: vmId, result: "denied", detail: { ...detail, reason: mapped.message } });
    throw mapped;
  }
}

/** Goes back to a snapshot: with memory the guest resumes where it was; without, the VM is left shut off. */
export async function revertVmSnapshot(ctx: ServiceContext, vmId: string, name: string) {
  const vm = await loadVm(ctx, vmId, "vm.revert");
  try {
    personalOnly(vm);
    const snapshot = await findSnapshot(ctx, vmId, name);
    if (snapshot.state !== "ready") throw new AppError("WRONG_STATE", `snapshot "${name}" is ${snapshot.state}`, { state: snapshot.state });
    readyState(vm, "revert");
    const operation = await ctx.db.$transaction(async (tx) => {
      const op = await enqueueVmOperation(tx, {
        vmId,
        hostId: vm.hostId,
        kind: "revert",
        params: { snapshot: libvirtSnapshotName(name), snapshotId: snapshot.id, memory: snapshot.memory },
        requestedById: ctx.actor.id,
      });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return op;
    });
    await auditAs(ctx, { action: "vm.revert", targetType: "vm", targetId: vmId, result: "ok", detail: { snapshot: name } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.revert", targetType: "vm", targetId: vmId, result: "denied", detail: { snapshot: name, reason: err.message } });
    throw err;
  }
}

/** Deletes a snapshot (its quota is returned once the worker has removed it from the disk). */
export async function deleteVmSnapshot(ctx: ServiceContext, vmId: string, name: string) {
  const vm = await loadVm(ctx, vmId, "vm.snapshot");
  try {
    personalOnly(vm);
    const snapshot = await findSnapshot(ctx, vmId, name);
    if (snapshot.state === "deleting") throw new AppError("CONFLICT", `snapshot "${name}" is already being deleted`);
    if (snapshot.state !== "ready") throw new AppError("WRONG_STATE", `snapshot "${name}" is ${snapshot.state}`, { state: snapshot.state });
    readyState(vm, "snapshot");
    const operation = await ctx.db.$transaction(async (tx) => {
      const op = await enqueueVmOperation(tx, {
        vmId,
        hostId: vm.hostId,
        kind: "snapshot-delete",
        params: { snapshot: libvirtSnapshotName(name), snapshotId: snapshot.id },
        requestedById: ctx.actor.id,
      });
      await tx.vmSnapshot.update({ where: { id: snapshot.id }, data: { state: "deleting" } });
      await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
      return op;
    });
    await auditAs(ctx, { action: "vm.snapshot.delete", targetType: "vm", targetId: vmId, result: "ok", detail: { snapshot: name } });
    return { vm: await getVm(ctx, vmId), operation };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "vm.snapshot.delete", targetType: "vm", targetId: vmId, result: "denied", detail: { snapshot: name, reason: err.message } });
    throw err;
  }
}

function uniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";
}
