/**
 * Virtual-lab classrooms. A teacher's class has a roster, a lab template and a budget; provisioning
 * creates one VM per student (owned by the student, paid from the class budget) through the
 * operation queue. Reads are scoped to classes the caller teaches, so another teacher's class is
 * simply not found. Bulk actions queue one operation per VM and report what they skipped and why.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Prisma } from "../../prisma/generated/client.ts";
import type { Tx } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { describeRosterErrors, parseRoster, previewProvision, rosterTooLarge } from "../domain/classroom.ts";
import { AppError } from "../domain/errors.ts";
import { placeMany, type PlacementResult } from "../domain/placement.ts";
import { authorize, classScope, vmScope, type Target } from "../domain/policy.ts";
import { amountsDelta, budgetBelowUsage, resourceLabel, vmCost, ZERO_AMOUNTS, type ResourceAmounts } from "../domain/quota.ts";
import { expiryWarning } from "../domain/schedule.ts";
import { actionAllowed, type VmAction, type VmState } from "../domain/vm-state.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { newRosterAccounts } from "./class-roster.ts";
import { HOLDING_STATES, loadFleet, lockPlacement } from "./fleet-service.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { moveTeachingLedger } from "./teaching-quota.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";
import { requestVmAction } from "./vm-service.ts";

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

const classSelect = {
  id: true,
  name: true,
  ownerId: true,
  termStart: true,
  termEnd: true,
  vcpus: true,
  memoryMiB: true,
  diskGiB: true,
  isolatedNetwork: true,
  maxVms: true,
  maxVcpus: true,
  maxMemoryMiB: true,
  maxDiskGiB: true,
  usedVms: true,
  usedVcpus: true,
  usedMemoryMiB: true,
  usedDiskGiB: true,
  studentsMayPower: true,
  studentsMayReset: true,
  studentsMayRevert: true,
  joinCode: true,
  preStartMinutes: true,
  freezeAt: true,
  frozenAt: true,
  expiresAt: true,
  expiryWarnDays: true,
  expiredAt: true,
  createdAt: true,
  image: { select: { id: true, name: true, hostId: true, shared: true } },
  teachers: { select: { user: { select: { id: true, username: true } } } },
} as const;

type ClassRow = Prisma.ClassGetPayload<{ select: typeof classSelect }>;

function budgetOf(c: ClassRow): { limits: ResourceAmounts; used: ResourceAmounts } {
  return {
    limits: { vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB },
    used: { vms: c.usedVms, vcpus: c.usedVcpus, memoryMiB: c.usedMemoryMiB, diskGiB: c.usedDiskGiB },
  };
}

function classTarget(c: { teachers: Array<{ user: { id: string } }> }): Target {
  return { teacherIds: c.teachers.map((t) => t.user.id) };
}

/** The API's view of a class: the ledger columns become `budget`, teachers become users. */
function shape(c: ClassRow) {
  const { teachers, maxVms: _mv, maxVcpus: _mc, maxMemoryMiB: _mm, maxDiskGiB: _md, usedVms: _uv, usedVcpus: _uc, usedMemoryMiB: _um, usedDiskGiB: _ud, ...rest } = c;
  return { ...rest, teachers: teachers.map((t) => t.user), budget: budgetOf(c) };
}

/** Loads a class the caller teaches (or any, for admins), or 404. */
async function loadClass(ctx: ServiceContext, id: string, action: "class.read" | "class.manage" = "class.read"): Promise<ClassRow> {
  const c = await ctx.db.class.findFirst({ where: { id, ...classScope(ctx.actor) }, select: classSelect });
  if (!c) throw new AppError("NOT_FOUND", "class not found");
  authorize(ctx.actor, action, classTarget(c));
  return c;
}

function newJoinCode(): string {
  // 10 characters from an unambiguous alphabet: easy to type from a projector.
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  return [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join("");
}

export async function createClass(ctx: ServiceContext, input: TCreateClassInput) {
  authorize(ctx.actor, "class.create");
  const image = await ctx.db.image.findUnique({ where: { id: input.imageId }, select: { id: true, format: true, minDiskGiB: true } });
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
    if (budget) await changeBudget(tx, id, budget);
    await tx.class.update({
      where: { id },
      data: { ...rest, ...(budget ? { maxVms: budget.vms, maxVcpus: budget.vcpus, maxMemoryMiB: budget.memoryMiB, maxDiskGiB: budget.diskGiB } : {}) },
    });
  });
  await auditAs(ctx, { action: "class.update", targetType: "class", targetId: id, result: "ok", detail: { ...input } as Record<string, unknown> });
  return getClass(ctx, id);
}

/**
 * Moves the owner's teaching ledger from the class's current budget to `budget`, under the class row's
 * lock (so two raises of one class cannot both count from the old budget). An expired class holds
 * nothing and keeps its budget; a budget cannot shrink below what the class's VMs use.
 */
async function changeBudget(tx: Tx, id: string, budget: ResourceAmounts): Promise<void> {
  const [c] = await tx.$queryRaw<Array<{ ownerId: string; expiredAt: Date | null; maxVms: number; maxVcpus: number; maxMemoryMiB: number; maxDiskGiB: number; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number }>>`
    SELECT "ownerId", "expiredAt", "maxVms", "maxVcpus", "maxMemoryMiB", "maxDiskGiB", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB"
    FROM "Class" WHERE "id" = ${id}::uuid FOR UPDATE`;
  if (!c) throw new AppError("NOT_FOUND", "class not found");
  if (c.expiredAt) throw new AppError("WRONG_STATE", "the class has expired: its budget can no longer change");
  const used = { vms: c.usedVms, vcpus: c.usedVcpus, memoryMiB: c.usedMemoryMiB, diskGiB: c.usedDiskGiB };
  const below = budgetBelowUsage(budget, used);
  if (below.length) {
    throw new AppError("CONFLICT", `the class's VMs already use more than that: ${below.map((r) => `${resourceLabel(r)} in use ${used[r]}, new budget ${budget[r]}`).join("; ")}`);
  }
  const current = { vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB };
  await moveTeachingLedger(tx, c.ownerId, amountsDelta(current, budget));
}

/**
 * Ends a class at its expiry: marks it expired and returns its budget to the owner's teaching quota in
 * one transaction, guarded by `expiredAt` so it happens exactly once; then queues the deletion of its
 * VMs. False when the class had already expired.
 */
export async function expireClass(caller: BulkCaller, id: string, now: Date): Promise<{ expired: boolean; queued: number; skipped: Array<{ username: string; reason: string }> }> {
  const released = await caller.db.$transaction(async (tx) => {
    const { count } = await tx.class.updateMany({ where: { id, expiredAt: null }, data: { expiredAt: now } });
    if (count === 0) return false;
    const c = await tx.class.findUniqueOrThrow({ where: { id }, select: { ownerId: true, maxVms: true, maxVcpus: true, maxMemoryMiB: true, maxDiskGiB: true } });
    await moveTeachingLedger(tx, c.ownerId, amountsDelta({ vms: c.maxVms, vcpus: c.maxVcpus, memoryMiB: c.maxMemoryMiB, diskGiB: c.maxDiskGiB }, ZERO_AMOUNTS));
    return true;
  });
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

export async function addTeachers(ctx: ServiceContext, id: string, usernames: string[]) {
  await loadClass(ctx, id, "class.manage");
  const users = await ctx.db.user.findMany({ where: { username: { in: usernames } }, select: { id: true, username: true, role: true } });
  const missing = usernames.filter((u) => !users.some((x) => x.username === u));
  if (missing.length) throw new AppError("BAD_REQUEST", `no such user: ${missing.join(", ")}`, { field: "usernames" });
  const notTeachers = users.filter((u) => u.role !== "teacher" && u.role !== "admin");
  if (notTeachers.length) throw new AppError("BAD_REQUEST", `not teachers: ${notTeachers.map((u) => u.username).join(", ")}`, { field: "usernames" });
  await ctx.db.classTeacher.createMany({ data: users.map((u) => ({ classId: id, userId: u.id })), skipDuplicates: true });
  await auditAs(ctx, { action: "class.addTeachers", targetType: "class", targetId: id, result: "ok", detail: { usernames } });
  return { added: users.map((u) => u.username) };
}

export interface TAddStudentsInput {
  usernames?: string[];
  /** Pasted roster: username[,name[,email]] per line; unknown usernames become new tenant accounts. */
  csv?: string;
}

/**
 * Adds students: existing users by username, and from a pasted roster new tenant accounts with
 * temporary passwords (returned once). If the class is provisioned, new students get their VM
 * right away (only theirs). Nothing is added when any line is invalid.
 */
export async function addStudents(ctx: ServiceContext, id: string, input: TAddStudentsInput) {
  const c = await loadClass(ctx, id, "class.manage");
  const roster = input.csv ? parseRoster(input.csv) : { rows: [], errors: [] };
  if (roster.errors.length) {
    throw new AppError("BAD_REQUEST", describeRosterErrors(roster.errors), { field: "csv", errors: roster.errors.slice(0, 100) });
  }
  const wanted = [...new Set([...(input.usernames ?? []), ...roster.rows.map((r) => r.username)])];
  if (wanted.length === 0) throw new AppError("BAD_REQUEST", "no students given", { field: "usernames" });
  const tooLarge = rosterTooLarge(wanted.length);
  if (tooLarge) throw new AppError("BAD_REQUEST", tooLarge, { field: "csv" });
  const existing = await ctx.db.user.findMany({ where: { username: { in: wanted } }, select: { id: true, username: true, role: true } });
  const unknownPlain = (input.usernames ?? []).filter((u) => !existing.some((e) => e.username === u) && !roster.rows.some((r) => r.username === u));
  if (unknownPlain.length) throw new AppError("BAD_REQUEST", `no such user: ${unknownPlain.join(", ")} (paste them as a roster to create accounts)`, { field: "usernames" });
  const staff = existing.filter((u) => u.role !== "tenant");
  if (staff.length) throw new AppError("BAD_REQUEST", `only tenant accounts can be students: ${staff.map((u) => u.username).join(", ")}`, { field: "usernames" });

  const known = new Set(existing.map((e) => e.username));
  const created = await newRosterAccounts(roster.rows.filter((r) => !known.has(r.username)));
  await ctx.db.$transaction(async (tx) => {
    if (created.length) {
      // Roster accounts sign in with a temporary password once, then must choose their own.
      await tx.user.createMany({ data: created.map((u) => ({ id: u.id, username: u.username, displayName: u.displayName, role: "tenant" as const, passwordHash: u.passwordHash, mustChangePassword: true })) });
      await tx.quota.createMany({ data: created.map((u) => ({ userId: u.id })) });
    }
    const ids = [...existing.map((e) => e.id), ...created.map((u) => u.id)];
    await tx.classStudent.createMany({ data: ids.map((userId) => ({ classId: id, userId })), skipDuplicates: true });
  });
  await auditAs(ctx, { action: "class.addStudents", targetType: "class", targetId: id, result: "ok", detail: { usernames: wanted, createdAccounts: created.map((u) => u.username) } });

  // A class that already has VMs gives newcomers theirs at once.
  const provisioned = await ctx.db.vm.count({ where: { classId: id, deletedAt: null } });
  const provisioning = provisioned > 0 && !c.frozenAt ? await provision(ctx, id, {}).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) })) : null;
  return {
    added: wanted,
    created: created.map((u) => ({ username: u.username, displayName: u.displayName, email: u.email, temporaryPassword: u.password })),
    provisioning,
  };
}

export async function removeStudent(ctx: ServiceContext, id: string, userId: string) {
  await loadClass(ctx, id, "class.manage");
  const vm = await ctx.db.vm.findFirst({ where: { classId: id, ownerId: userId, deletedAt: null }, select: { id: true, hostId: true, state: true, activeOperationId: true } });
  if (vm && vm.state !== "deleting") {
    if (vm.activeOperationId) throw new AppError("CONFLICT", "the student's VM is busy; try again when its operation has finished");
    await ctx.db.$transaction(async (tx) => {
      await enqueueVmOperation(tx, { vmId: vm.id, hostId: vm.hostId, kind: "delete", requestedById: ctx.actor.id });
      await tx.vm.update({ where: { id: vm.id }, data: { state: "deleting" } });
    });
  }
  const { count } = await ctx.db.classStudent.deleteMany({ where: { classId: id, userId } });
  if (count === 0) throw new AppError("NOT_FOUND", "student not in this class");
  await auditAs(ctx, { action: "class.removeStudent", targetType: "class", targetId: id, result: "ok", detail: { userId } });
  return { removed: userId };
}

/** A student joins with the class's join code (tenants only). */
export async function joinClass(ctx: ServiceContext, code: string) {
  authorize(ctx.actor, "class.join");
  if (ctx.actor.role !== "tenant") throw new AppError("FORBIDDEN", "only tenant accounts can join a class as a student");
  const c = await ctx.db.class.findUnique({ where: { joinCode: code.trim().toUpperCase() }, select: { id: true, name: true, expiredAt: true } });
  if (!c || c.expiredAt) throw new AppError("NOT_FOUND", "no class with this join code");
  await ctx.db.classStudent.createMany({ data: [{ classId: c.id, userId: ctx.actor.id }], skipDuplicates: true });
  await auditAs(ctx, { action: "class.join", targetType: "class", targetId: c.id, result: "ok" });
  return { classId: c.id, name: c.name };
}

/**
 * Where the VMs of these students would go: one placement per student (placeMany), spread across the
 * hosts that can reach the lab image, each class VM avoiding hosts that already hold more of the
 * class (soft anti-affinity), so a class lands evenly and one host's loss takes only its share.
 */
async function placeStudents(tx: Tx | ServiceContext["db"], c: ClassRow, count: number): Promise<PlacementResult[]> {
  if (count === 0) return [];
  const fleet = await loadFleet(tx, c.image);
  const members: Record<string, number> = {};
  for (const row of await tx.vm.groupBy({ by: ["hostId"], where: { classId: c.id, deletedAt: null, state: { in: [...HOLDING_STATES] } }, _count: { _all: true } })) {
    members[row.hostId] = row._count._all;
  }
  const request = {
    vcpus: c.vcpus,
    memoryMiB: c.memoryMiB,
    diskGiB: c.diskGiB,
    image: { id: c.image.id, name: c.image.name, copyable: false },
    antiAffinity: { mode: "soft" as const, members, group: c.id },
  };
  return placeMany(fleet, Array.from({ length: count }, () => request));
}

async function studentsWithoutVm(tx: Tx | ServiceContext["db"], classId: string, only?: string[]) {
  const students = await tx.classStudent.findMany({ where: { classId, ...(only ? { userId: { in: only } } : {}) }, select: { user: { select: { id: true, username: true } } } });
  const withVm = new Set((await tx.vm.findMany({ where: { classId, deletedAt: null }, select: { ownerId: true } })).map((v) => v.ownerId));
  return students.map((s) => s.user).filter((u) => !withVm.has(u.id));
}

/** Dry run: what provisioning would create, what it costs the budget, whether the host can take it, and why not. */
export async function previewClass(ctx: ServiceContext, id: string, input: { userIds?: string[] } = {}) {
  const c = await loadClass(ctx, id, "class.manage");
  const students = await studentsWithoutVm(ctx.db, id, input.userIds);
  const placements = await placeStudents(ctx.db, c, students.length);
  const preview = previewProvision({ students: students.map((s) => s.username), template: c, budget: budgetOf(c), placements });
  if (c.frozenAt) preview.reasons.push("the class is frozen");
  return { ...preview, fits: preview.reasons.length === 0, students: students.map((s) => s.username) };
}

/**
 * One VM per student who has none, as linked clones of the lab template, all or nothing: the class
 * row is locked, the preview recomputed inside the transaction, and if anything does not fit the
 * request fails with 409 and the reasons, creating nothing.
 */
export async function provision(ctx: ServiceContext, id: string, input: { userIds?: string[] }) {
  const c = await loadClass(ctx, id, "class.manage");
  const result = await ctx.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT "id" FROM "Class" WHERE "id" = ${id}::uuid FOR UPDATE`;
    const fresh = await tx.class.findUniqueOrThrow({ where: { id }, select: classSelect });
    const students = await studentsWithoutVm(tx, id, input.userIds);
    await lockPlacement(tx);
    const placements = await placeStudents(tx, fresh, students.length);
    const preview = previewProvision({ students: students.map((s) => s.username), template: fresh, budget: budgetOf(fresh), placements });
    if (fresh.frozenAt) preview.reasons.push("the class is frozen");
    if (fresh.expiredAt) preview.reasons.push("the class has expired");
    if (preview.reasons.length) throw new AppError("CONFLICT", `cannot provision: ${preview.reasons.join("; ")}`, { reasons: preview.reasons });
    if (students.length === 0) return { vms: 0, operations: [] as string[] };
    const cost = vmCost(fresh);
    await tx.class.update({
      where: { id },
      data: {
        usedVms: { increment: cost.vms * students.length },
        usedVcpus: { increment: cost.vcpus * students.length },
        usedMemoryMiB: { increment: cost.memoryMiB * students.length },
        usedDiskGiB: { increment: cost.diskGiB * students.length },
      },
    });
    const operations: string[] = [];
    for (const [i, s] of students.entries()) {
      const placement = placements[i]!;
      if (!placement.ok) throw new Error("unreachable: preview fits, so every student was placed");
      const hostId = placement.hostId;
      const vmId = randomUUID();
      await tx.vm.create({
        data: {
          id: vmId,
          name: `${fresh.name} — ${s.username}`,
          ownerId: s.id,
          classId: id,
          hostId,
          imageId: fresh.image.id,
          vcpus: fresh.vcpus,
          memoryMiB: fresh.memoryMiB,
          diskGiB: fresh.diskGiB,
          domainName: `vmdesk-${vmId}`,
          state: "provisioning",
        },
      });
      const op = await enqueueVmOperation(tx, { vmId, hostId, kind: "create", requestedById: ctx.actor.id });
      operations.push(op.id);
      await notifyVmChanged(tx, { vmId, ownerId: s.id });
    }
    return { vms: students.length, operations };
  }, { timeout: 30_000 });
  await auditAs(ctx, { action: "class.provision", targetType: "class", targetId: c.id, result: "ok", detail: { vms: result.vms } });
  return result;
}

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

/**
 * Queues one operation per selected student VM. VMs that are busy or in a state that does not allow
 * the action are skipped with the reason (a bulk action never fails half-way).
 */
/** Who queues a bulk action: a teacher (through a service call) or the scheduler (no user). */
export interface BulkCaller {
  db: ServiceContext["db"];
  requestedById: string | null;
}

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

function asCaller(ctx: ServiceContext): BulkCaller {
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

export const SUBMISSION_SNAPSHOT = "submission";

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

/** A student (if the class allows) or a teacher reverts one VM to one of its class's checkpoints. */
export async function revertVmToCheckpoint(ctx: ServiceContext, vmId: string, checkpointId: string) {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) }, select: { classId: true, ...vmAccessSelect } });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.revert", vmTarget(vm));
  const cp = vm.classId ? await ctx.db.classCheckpoint.findFirst({ where: { id: checkpointId, classId: vm.classId }, select: { snapshot: true } }) : null;
  if (!cp) throw new AppError("NOT_FOUND", "checkpoint not found for this VM");
  return requestVmAction(ctx, vmId, "revert", { snapshot: cp.snapshot });
}
