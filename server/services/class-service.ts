/**
 * Virtual-lab classrooms: a teacher's class has a roster, a lab template and a budget drawn from the
 * owner's teaching quota. This module holds the class itself (create, read, update, end, sessions);
 * the roster is in class-roster-service.ts, provisioning in class-provisioning.ts, bulk actions,
 * checkpoints and freeze in class-bulk.ts, the ledger moves in quota-service.ts. Reads are scoped to
 * classes the caller teaches, so another teacher's class is simply not found.
 */
import { randomBytes } from "node:crypto";
import { AppError } from "../domain/errors.ts";
import { authorize, classScope, imageScope } from "../domain/policy.ts";
import type { ResourceAmounts } from "../domain/quota.ts";
import { expiryWarning } from "../domain/schedule.ts";
import { auditAs } from "./audit-service.ts";
import { classSelect, loadClass, shape } from "./class-access.ts";
import { asCaller, bulkAction, type BulkCaller } from "./class-bulk.ts";
import type { ServiceContext } from "./context.ts";
import { changeClassBudget, moveTeachingLedger, releaseExpiredClassBudget } from "./quota-service.ts";

/** Lives with the checkpoint use-cases in class-bulk.ts; server/api/routers/vm.ts imports it from here. */
export { revertVmToCheckpoint } from "./class-bulk.ts";

export interface TCreateClassInput {
  name: string;
  imageId: string;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  budget: ResourceAmounts;
  termStart?: Date;
  termEnd?: Date;
  isolatedNetwork?: boolean;
  studentsMayPower?: boolean;
  studentsMayReset?: boolean;
  studentsMayRevert?: boolean;
  preStartMinutes?: number;
  expiresAt?: Date;
  freezeAt?: Date;
}

export type TUpdateClassInput = Partial<Omit<TCreateClassInput, "imageId">>;

function newJoinCode(): string {
  // 10 characters from an unambiguous alphabet: easy to type from a projector.
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  return [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join("");
}

export async function createClass(ctx: ServiceContext, input: TCreateClassInput) {
  authorize(ctx.actor, "class.create");
  const image = await ctx.db.image.findFirst({ where: { id: input.imageId, ...imageScope(ctx.actor) }, select: { id: true, format: true, minDiskGiB: true } });
  if (!image) throw new AppError("NOT_FOUND", "image not found");
  if (image.format === "iso") throw new AppError("BAD_REQUEST", "a lab template needs a disk image (student VMs are linked clones), not an ISO", { field: "imageId" });
  if (input.diskGiB < image.minDiskGiB) throw new AppError("BAD_REQUEST", `diskGiB must be at least ${image.minDiskGiB} for this image`, { field: "diskGiB" });
  const { budget, ...rest } = input;
  // The budget is taken from the owner's teaching quota in the same transaction (409 when it does not fit).
  const created = await ctx.db.$transaction(async (tx) => {
    await moveTeachingLedger(tx, ctx.actor.id, budget);
    return tx.class.create({
      data: {
        ...rest,
        ownerId: ctx.actor.id,
        maxVms: budget.vms,
        maxVcpus: budget.vcpus,
        maxMemoryMiB: budget.memoryMiB,
        maxDiskGiB: budget.diskGiB,
        joinCode: newJoinCode(),
        teachers: { create: { userId: ctx.actor.id } },
      },
      select: { id: true },
    });
  });
  await auditAs(ctx, { action: "class.create", targetType: "class", targetId: created.id, result: "ok", detail: { name: input.name } });
  return { id: created.id };
}

export async function listClasses(ctx: ServiceContext) {
  authorize(ctx.actor, "class.list");
  const rows = await ctx.db.class.findMany({ where: classScope(ctx.actor), orderBy: { createdAt: "desc" }, select: { ...classSelect, _count: { select: { students: true } } } });
  return rows.map(({ _count, ...c }) => ({ ...shape(c), studentCount: _count.students }));
}

/** The class with its roster: every student with their VM (if any) and its live state. */
export async function getClass(ctx: ServiceContext, id: string, now = new Date()) {
  const c = await loadClass(ctx, id);
  const [students, vms, checkpoints, sessions] = await Promise.all([
    ctx.db.classStudent.findMany({ where: { classId: id }, orderBy: { user: { username: "asc" } }, select: { addedAt: true, user: { select: { id: true, username: true, displayName: true } } } }),
    ctx.db.vm.findMany({
      where: { classId: id, deletedAt: null },
      select: { id: true, ownerId: true, state: true, stateMessage: true, guestReadyAt: true, activeOperationId: true },
    }),
    ctx.db.classCheckpoint.findMany({ where: { classId: id }, orderBy: { createdAt: "asc" }, select: { id: true, name: true, kind: true, createdAt: true } }),
    ctx.db.classSession.findMany({ where: { classId: id }, orderBy: { startsAt: "asc" }, select: { id: true, startsAt: true, endsAt: true, startedAt: true, endedAt: true } }),
  ]);
  const ops = await ctx.db.operation.findMany({
    where: { id: { in: vms.map((v) => v.activeOperationId).filter((x): x is string => x !== null) } },
    select: { id: true, kind: true, status: true, step: true, progress: true },
  });
  const lastFailures = await ctx.db.operation.findMany({
    where: { vmId: { in: vms.map((v) => v.id) }, status: "failed" },
    orderBy: { finishedAt: "desc" },
    distinct: ["vmId"],
    select: { vmId: true, kind: true, error: true, finishedAt: true },
  });
  const vmByOwner = new Map(vms.map((v) => [v.ownerId, v]));
  const opById = new Map(ops.map((o) => [o.id, o]));
  const failureByVm = new Map(lastFailures.map((f) => [f.vmId, f]));
  return {
    ...shape(c),
    expiryWarning: expiryWarning(c.expiresAt, now, c.expiryWarnDays),
    students: students.map((s) => {
      const vm = vmByOwner.get(s.user.id);
      return {
        userId: s.user.id,
        username: s.user.username,
        displayName: s.user.displayName,
        vmId: vm?.id ?? null,
        state: vm?.state ?? null,
        stateMessage: vm?.stateMessage ?? null,
        guestReady: Boolean(vm?.guestReadyAt),
        operation: vm?.activeOperationId ? (opById.get(vm.activeOperationId) ?? null) : null,
        lastFailure: vm ? (failureByVm.get(vm.id) ?? null) : null,
      };
    }),
    checkpoints,
    sessions,
  };
}

export async function updateClass(ctx: ServiceContext, id: string, input: TUpdateClassInput) {
  await loadClass(ctx, id, "class.manage");
  const { budget, ...rest } = input;
  await ctx.db.$transaction(async (tx) => {
    if (budget) await changeClassBudget(tx, id, budget);
    await tx.class.update({
      where: { id },
      data: { ...rest, ...(budget ? { maxVms: budget.vms, maxVcpus: budget.vcpus, maxMemoryMiB: budget.memoryMiB, maxDiskGiB: budget.diskGiB } : {}) },
    });
  });
  await auditAs(ctx, { action: "class.update", targetType: "class", targetId: id, result: "ok", detail: { ...input } as Record<string, unknown> });
  return getClass(ctx, id);
}

/**
 * Ends a class at its expiry: marks it expired and returns its budget to the owner's teaching quota in
 * one transaction, guarded by `expiredAt` so it happens exactly once; then queues the deletion of its
 * VMs. False when the class had already expired.
 */
export async function expireClass(caller: BulkCaller, id: string, now: Date): Promise<{ expired: boolean; queued: number; skipped: Array<{ username: string; reason: string }> }> {
  const released = await caller.db.$transaction((tx) => releaseExpiredClassBudget(tx, id, now));
  if (!released) return { expired: false, queued: 0, skipped: [] };
  const result = await bulkAction(caller, id, "delete", {});
  return { expired: true, queued: result.queued.length, skipped: result.skipped };
}

/** A teacher ends a class now, as its expiry would: VMs deleted, budget back to the teaching quota (once). */
export async function endClass(ctx: ServiceContext, id: string, now = new Date()) {
  await loadClass(ctx, id, "class.manage");
  const result = await expireClass(asCaller(ctx), id, now);
  if (!result.expired) throw new AppError("WRONG_STATE", "the class has already ended");
  await auditAs(ctx, { action: "class.end", targetType: "class", targetId: id, result: "ok", detail: { queued: result.queued, skipped: result.skipped } });
  return { id, queued: result.queued, skipped: result.skipped };
}

export async function addSession(ctx: ServiceContext, id: string, input: { startsAt: Date; endsAt: Date }) {
  await loadClass(ctx, id, "class.manage");
  if (input.endsAt <= input.startsAt) throw new AppError("BAD_REQUEST", "endsAt must be after startsAt", { field: "endsAt" });
  const s = await ctx.db.classSession.create({ data: { classId: id, ...input }, select: { id: true, startsAt: true, endsAt: true, startedAt: true, endedAt: true } });
  await auditAs(ctx, { action: "class.addSession", targetType: "class", targetId: id, result: "ok", detail: { startsAt: input.startsAt.toISOString(), endsAt: input.endsAt.toISOString() } });
  return s;
}

export async function deleteSession(ctx: ServiceContext, id: string, sessionId: string) {
  await loadClass(ctx, id, "class.manage");
  const { count } = await ctx.db.classSession.deleteMany({ where: { id: sessionId, classId: id } });
  if (count === 0) throw new AppError("NOT_FOUND", "session not found");
  return { id: sessionId, deleted: true };
}
