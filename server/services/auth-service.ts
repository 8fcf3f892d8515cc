/**
 * Sign-in and API tokens. Both paths are rate-limited per account and per address, refuse disabled
 * users, and cost the same time for unknown users as for wrong passwords.
 */
import type { Db } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import type { Actor, Role } from "../domain/policy.ts";
import { authorize } from "../domain/policy.ts";
import { burnPasswordCheck, newTokenSecret, sha256Hex, TOKEN_PREFIX, verifyPassword } from "../auth/secrets.ts";
import { audit, auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { limitSignIn } from "./rate-limit.ts";
import { config } from "../config.ts";

export type AuthenticatedUser = Actor & { username: string; displayName: string };

const userSelect = { id: true, username: true, displayName: true, role: true, disabled: true, passwordHash: true } as const;

/** Verifies a username/password pair. Throws UNAUTHORIZED (never says which part was wrong). */
export async function verifyCredentials(db: Db, username: string, password: string, ip: string | null): Promise<AuthenticatedUser> {
  await limitSignIn(db, username, ip);
  const user = await db.user.findUnique({ where: { username }, select: userSelect });
  const ok = user ? await verifyPassword(user.passwordHash, password) : (await burnPasswordCheck(password), false);
  if (!user || !ok || user.disabled) {
    await audit(db, { actorId: user?.id ?? null, actorName: username, ip }, { action: "auth.signIn", result: "denied", detail: { reason: user?.disabled && ok ? "disabled" : "bad credentials" } });
    throw new AppError("UNAUTHORIZED", "invalid username or password");
  }
  await audit(db, { actorId: user.id, actorName: user.username, ip }, { action: "auth.signIn", result: "ok" });
  return { id: user.id, username: user.username, displayName: user.displayName, role: user.role as Role, disabled: false };
}

/** Loads the user behind a session; null when gone or disabled (so a disabled user's session dies at once). */
export async function loadActiveUser(db: Db, userId: string): Promise<AuthenticatedUser | null> {
  const user = await db.user.findUnique({ where: { id: userId }, select: userSelect });
  if (!user || user.disabled) return null;
  return { id: user.id, username: user.username, displayName: user.displayName, role: user.role as Role, disabled: false };
}

/** Resolves a bearer token to its active user; null when unknown, revoked, expired or the user is disabled. */
export async function resolveApiToken(db: Db, secret: string, now = new Date()): Promise<AuthenticatedUser | null> {
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return null;
  const token = await db.apiToken.findUnique({ where: { tokenHash: sha256Hex(secret) }, select: { id: true, userId: true, expiresAt: true, revokedAt: true, lastUsedAt: true } });
  if (!token || token.revokedAt || token.expiresAt <= now) return null;
  // Write lastUsedAt at most once a minute: tokens are used on every API call.
  if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: token.id }, data: { lastUsedAt: now } });
  }
  return loadActiveUser(db, token.userId);
}

async function insertToken(db: Db, userId: string, name: string, ttlDays: number) {
  const secret = newTokenSecret();
  const expiresAt = new Date(Date.now() + ttlDays * 86_400_000);
  const row = await db.apiToken.create({ data: { userId, name, tokenHash: sha256Hex(secret), expiresAt }, select: { id: true, name: true, expiresAt: true, createdAt: true } });
  return { ...row, token: secret };
}

/** `POST /api/v1/auth/token`: password → a new API token, shown once. */
export async function issueTokenForCredentials(db: Db, input: { username: string; password: string; name?: string; ttlDays?: number }, ip: string | null) {
  const user = await verifyCredentials(db, input.username, input.password, ip);
  const created = await insertToken(db, user.id, input.name ?? "api", Math.min(input.ttlDays ?? config().VMDESK_TOKEN_TTL_DAYS, 365));
  await audit(db, { actorId: user.id, actorName: user.username, ip }, { action: "token.create", targetType: "token", targetId: created.id, result: "ok" });
  return created;
}

export async function createOwnToken(ctx: ServiceContext, input: { name: string; ttlDays?: number }) {
  authorize(ctx.actor, "token.manageOwn");
  const created = await insertToken(ctx.db, ctx.actor.id, input.name, Math.min(input.ttlDays ?? config().VMDESK_TOKEN_TTL_DAYS, 365));
  await auditAs(ctx, { action: "token.create", targetType: "token", targetId: created.id, result: "ok" });
  return created;
}

export async function listOwnTokens(ctx: ServiceContext) {
  authorize(ctx.actor, "token.manageOwn");
  return ctx.db.apiToken.findMany({
    where: { userId: ctx.actor.id, revokedAt: null },
    orderBy: { createdAt: "desc" },
    select: { id: true, name: true, createdAt: true, expiresAt: true, lastUsedAt: true },
  });
}

export async function revokeOwnToken(ctx: ServiceContext, tokenId: string) {
  authorize(ctx.actor, "token.manageOwn");
  const { count } = await ctx.db.apiToken.updateMany({ where: { id: tokenId, userId: ctx.actor.id, revokedAt: null }, data: { revokedAt: new Date() } });
  if (count === 0) throw new AppError("NOT_FOUND", "token not found");
  await auditAs(ctx, { action: "token.revoke", targetType: "token", targetId: tokenId, result: "ok" });
  return { id: tokenId, revoked: true };
}
