/** Users, roles and quotas (admin), and the caller's own profile. */
import { Prisma } from "../../prisma/generated/client.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, type Role } from "../domain/policy.ts";
import type { ResourceAmounts } from "../domain/quota.ts";
import { hashPassword, randomPassword, verifyPassword } from "../auth/secrets.ts";
import { auditAs } from "./audit-service.ts";
import { endSessionsAndTokens } from "./auth-service.ts";
import type { ServiceContext } from "./context.ts";
import { limitSignIn } from "./rate-limit.ts";
import { teachingQuotaView } from "./teaching-quota.ts";

export const publicUserSelect = { id: true, username: true, displayName: true, role: true, disabled: true, createdAt: true } as const;

export interface QuotaView {
  limits: ResourceAmounts;
  used: ResourceAmounts;
}

function quotaView(q: { maxVms: number; maxVcpus: number; maxMemoryMiB: number; maxDiskGiB: number; usedVms: number; usedVcpus: number; usedMemoryMiB: number; usedDiskGiB: number } | null): QuotaView {
  return {
    limits: { vms: q?.maxVms ?? 0, vcpus: q?.maxVcpus ?? 0, memoryMiB: q?.maxMemoryMiB ?? 0, diskGiB: q?.maxDiskGiB ?? 0 },
    used: { vms: q?.usedVms ?? 0, vcpus: q?.usedVcpus ?? 0, memoryMiB: q?.usedMemoryMiB ?? 0, diskGiB: q?.usedDiskGiB ?? 0 },
  };
}

/** The snapshots quota: a limit on the Quota row, usage counted from the user's VMs' snapshots. */
async function snapshotQuotaView(db: Db, userId: string, q: { maxSnapshots: number } | null) {
  return { limit: q?.maxSnapshots ?? 10, used: await db.vmSnapshot.count({ where: { vm: { ownerId: userId } } }) };
}

export async function getMe(ctx: ServiceContext) {
  const user = await ctx.db.user.findUnique({ where: { id: ctx.actor.id }, select: { ...publicUserSelect, mustChangePassword: true, quota: true } });
  if (!user) throw new AppError("UNAUTHORIZED", "your account no longer exists");
  const { quota, ...rest } = user;
  return { ...rest, quota: { ...quotaView(quota), snapshots: await snapshotQuotaView(ctx.db, ctx.actor.id, quota) } };
}

export async function getOwnQuota(ctx: ServiceContext) {
  authorize(ctx.actor, "quota.readOwn");
  const quota = await ctx.db.quota.findUnique({ where: { userId: ctx.actor.id } });
  return { ...quotaView(quota), snapshots: await snapshotQuotaView(ctx.db, ctx.actor.id, quota) };
}

export async function listUsers(ctx: ServiceContext) {
  authorize(ctx.actor, "user.list");
  const users = await ctx.db.user.findMany({ orderBy: { username: "asc" }, select: { ...publicUserSelect, mustChangePassword: true, quota: true, teachingQuota: true } });
  return users.map(({ quota, teachingQuota, ...u }) => ({ ...u, quota: quotaView(quota), teachingQuota: teachingQuotaView(teachingQuota) }));
}

export async function createUser(ctx: ServiceContext, input: { username: string; password?: string; role: Role; displayName?: string }) {
  authorize(ctx.actor, "user.manage");
  const password = input.password ?? randomPassword();
  try {
    const user = await ctx.db.user.create({
      data: {
        username: input.username,
        displayName: input.displayName ?? "",
        role: input.role,
        passwordHash: await hashPassword(password),
        // A generated password was seen by the admin: like a roster account's, it is changed at first sign-in.
        mustChangePassword: !input.password,
        quota: { create: {} },
      },
      select: publicUserSelect,
    });
    await auditAs(ctx, { action: "user.create", targetType: "user", targetId: user.id, result: "ok", detail: { username: user.username, role: user.role } });
    return { ...user, ...(input.password ? {} : { temporaryPassword: password }) };
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      throw new AppError("CONFLICT", `username "${input.username}" is taken`);
    }
    throw err;
  }
}

export async function updateUser(ctx: ServiceContext, input: { id: string; role?: Role; disabled?: boolean; password?: string; displayName?: string }) {
  authorize(ctx.actor, "user.manage");
  if (input.id === ctx.actor.id && (input.disabled === true || (input.role && input.role !== "admin"))) {
    throw new AppError("CONFLICT", "you cannot disable or demote yourself");
  }
  const existing = await ctx.db.user.findUnique({ where: { id: input.id }, select: { id: true, role: true, disabled: true } });
  if (!existing) throw new AppError("NOT_FOUND", "user not found");
  // What a session or token was granted under no longer holds: end them all (disable-then-enable included).
  const endsSessions = Boolean(input.password) || (input.role !== undefined && input.role !== existing.role) || (input.disabled !== undefined && input.disabled !== existing.disabled);
  const passwordHash = input.password ? await hashPassword(input.password) : undefined;
  const { user, tokensRevoked } = await ctx.db.$transaction(async (tx) => {
    const user = await tx.user.update({
      where: { id: input.id },
      data: { role: input.role, disabled: input.disabled, displayName: input.displayName, ...(passwordHash ? { passwordHash } : {}) },
      select: publicUserSelect,
    });
    return { user, tokensRevoked: endsSessions ? await endSessionsAndTokens(tx, user.id) : 0 };
  });
  await auditAs(ctx, {
    action: "user.update",
    targetType: "user",
    targetId: user.id,
    result: "ok",
    detail: { role: input.role, disabled: input.disabled, passwordChanged: Boolean(input.password), ...(endsSessions ? { sessionsEnded: true, tokensRevoked } : {}) },
  });
  return user;
}

/** Sets a user's limits. Lowering a limit below current usage is allowed (it blocks new VMs only). */
export async function setQuota(ctx: ServiceContext, userId: string, limits: ResourceAmounts & { snapshots?: number }): Promise<QuotaView> {
  authorize(ctx.actor, "quota.manage");
  const user = await ctx.db.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new AppError("NOT_FOUND", "user not found");
  const data = {
    maxVms: limits.vms,
    maxVcpus: limits.vcpus,
    maxMemoryMiB: limits.memoryMiB,
    maxDiskGiB: limits.diskGiB,
    ...(limits.snapshots !== undefined ? { maxSnapshots: limits.snapshots } : {}),
  };
  const quota = await ctx.db.quota.upsert({ where: { userId }, create: { userId, ...data }, update: data });
  await auditAs(ctx, { action: "quota.update", targetType: "user", targetId: userId, result: "ok", detail: { ...limits } });
  return quotaView(quota);
}

/**
 * The caller changes their own password (the current one proves it is them, not a left-open session).
 * Clears mustChangePassword, which is how a roster account leaves its temporary password behind, and
 * ends every other session and token: whoever else knew the old password (the teacher who saw a
 * roster's temporary ones) would otherwise pass the gate with this account's full rights. The calling
 * token (`keepTokenId`) stays; a browser session signs in again with the new password (the change page
 * does). The current password is a guess like a sign-in's, so it counts against the same limits.
 */
export async function changeOwnPassword(ctx: ServiceContext, input: { currentPassword: string; newPassword: string }, keepTokenId?: string) {
  const user = await ctx.db.user.findUnique({ where: { id: ctx.actor.id }, select: { username: true, passwordHash: true } });
  if (!user) throw new AppError("UNAUTHORIZED", "your account no longer exists");
  await limitSignIn(ctx.db, user.username, ctx.ip);
  if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
    await auditAs(ctx, { action: "user.changePassword", targetType: "user", targetId: ctx.actor.id, result: "denied", detail: { reason: "wrong current password" } });
    throw new AppError("FORBIDDEN", "the current password is not right");
  }
  if (input.newPassword === input.currentPassword) throw new AppError("BAD_REQUEST", "choose a new password, not the current one", { field: "newPassword" });
  const passwordHash = await hashPassword(input.newPassword);
  const tokensRevoked = await ctx.db.$transaction(async (tx) => {
    await tx.user.update({ where: { id: ctx.actor.id }, data: { passwordHash, mustChangePassword: false } });
    return endSessionsAndTokens(tx, ctx.actor.id, new Date(), keepTokenId);
  });
  await auditAs(ctx, { action: "user.changePassword", targetType: "user", targetId: ctx.actor.id, result: "ok", detail: { sessionsEnded: true, tokensRevoked } });
  return { changed: true };
}

/** Creates or updates the bootstrap admin (used by the seed script). */
export async function ensureAdmin(db: Db, username: string, password: string | null): Promise<{ created: boolean }> {
  const existing = await db.user.findUnique({ where: { username }, select: { id: true, passwordHash: true, role: true, disabled: true } });
  if (existing) {
    // A real reset ends the admin's sessions and tokens; re-running the seed with the same password does not.
    if (password && (!(await verifyPassword(existing.passwordHash, password)) || existing.role !== "admin" || existing.disabled)) {
      const passwordHash = await hashPassword(password);
      await db.$transaction(async (tx) => {
        await tx.user.update({ where: { id: existing.id }, data: { passwordHash, role: "admin", disabled: false } });
        await endSessionsAndTokens(tx, existing.id);
      });
    }
    return { created: false };
  }
  if (!password) throw new Error("a password is needed to create the admin");
  await db.user.create({
    data: { username, displayName: "Administrator", role: "admin", passwordHash: await hashPassword(password), quota: { create: { maxVms: 10, maxVcpus: 16, maxMemoryMiB: 16384, maxDiskGiB: 200 } } },
  });
  return { created: true };
}
