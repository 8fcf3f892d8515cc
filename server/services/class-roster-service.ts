/**
 * A class's roster: its teachers, its students (existing tenants, or new accounts from a pasted
 * roster, hashed through class-roster.ts's queue), and students joining with the class's code.
 * A student added to a class that already has VMs gets theirs at once.
 */
import { describeRosterErrors, parseRoster, rosterTooLarge } from "../domain/classroom.ts";
import { AppError } from "../domain/errors.ts";
import { authorize } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import { loadClass } from "./class-access.ts";
import { provision } from "./class-provisioning.ts";
import { newRosterAccounts } from "./class-roster.ts";
import type { ServiceContext } from "./context.ts";
import { enqueueVmOperation } from "./operation-service.ts";

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
