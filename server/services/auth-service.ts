/**
 * Sign-in, sessions and API tokens. Sign-in is rate-limited per (account, address) and per address,
 * refuses disabled users, and costs the same time for unknown users as for wrong passwords. A browser
 * session stands while its user's sessionVersion is unchanged and its absolute lifetime lasts; a token
 * while unrevoked and unexpired, within its scopes.
 */
import type { Db, Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import type { Actor, Role, Scope } from "../domain/policy.ts";
import { authorize, scopesForNewToken } from "../domain/policy.ts";
import { burnPasswordCheck, newTokenSecret, sha256Hex, TOKEN_PREFIX, verifyPassword } from "../auth/secrets.ts";
import { readSessionClaims, withinAbsoluteLifetime } from "../auth/session-claims.ts";
import { audit, auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { limitSignIn } from "./rate-limit.ts";
import { config } from "../config.ts";

export type AuthenticatedUser = Actor & {
  username: string;
  displayName: string;
  /** Still on a temporary password: only procedures marked allowedBeforePasswordChange (server/api/trpc.ts). */
  mustChangePassword?: boolean;
  /** Set when the caller authenticated with an API token: the token's id and expiry bound what it may mint. */
  token?: { id: string; expiresAt: Date };
};

const userSelect = { id: true, username: true, displayName: true, role: true, disabled: true, passwordHash: true, sessionVersion: true, mustChangePassword: true } as const;

function asAuthenticated(user: { id: string; username: string; displayName: string; role: string; mustChangePassword: boolean }): AuthenticatedUser {
  return { id: user.id, username: user.username, displayName: user.displayName, role: user.role as Role, disabled: false, mustChangePassword: user.mustChangePassword };
}

/**
 * Verifies a username/password pair. Throws UNAUTHORIZED (never says which part was wrong). Returns
 * the user's sessionVersion too: a session records it, and any later reset/disable/role change ends it.
 */
export async function verifyCredentials(db: Db, username: string, password: string, ip: string | null): Promise<AuthenticatedUser & { sessionVersion: number }> {
  await limitSignIn(db, username, ip);
  const user = await db.user.findUnique({ where: { username }, select: userSelect });
  const ok = user ? await verifyPassword(user.passwordHash, password) : (await burnPasswordCheck(password), false);
  if (!user || !ok || user.disabled) {
    await audit(db, { actorId: user?.id ?? null, actorName: username, ip }, { action: "auth.signIn", result: "denied", detail: { reason: user?.disabled && ok ? "disabled" : "bad credentials" } });
    throw new AppError("UNAUTHORIZED", "invalid username or password");
  }
  await audit(db, { actorId: user.id, actorName: user.username, ip }, { action: "auth.signIn", result: "ok" });
  return { ...asAuthenticated(user), sessionVersion: user.sessionVersion };
}

/** Loads a user for internal callers (tests, streams re-checking their user); null when gone or disabled. */
export async function loadActiveUser(db: Db, userId: string): Promise<AuthenticatedUser | null> {
  const user = await db.user.findUnique({ where: { id: userId }, select: userSelect });
  if (!user || user.disabled) return null;
  return asAuthenticated(user);
}

/**
 * The user behind a browser session's decoded JWT, or null when the session no longer stands: claims
 * missing (a cookie from before sessions carried them), past the absolute lifetime counted from sign-in,
 * user gone or disabled, or sessionVersion bumped since (password reset, disable, role change).
 */
export async function loadSessionUser(db: Db, jwt: unknown, now = new Date()): Promise<AuthenticatedUser | null> {
  const claims = readSessionClaims(jwt);
  if (!claims || !withinAbsoluteLifetime(claims, now, config().VMDESK_SESSION_ABSOLUTE_S)) return null;
  const user = await db.user.findUnique({ where: { id: claims.userId }, select: userSelect });
  if (!user || user.disabled || user.sessionVersion !== claims.sessionVersion) return null;
  return asAuthenticated(user);
}

/** Resolves a bearer token to its active user with the token's scopes; null when unknown, revoked, expired or the user is disabled. */
export async function resolveApiToken(db: Db, secret: string, now = new Date()): Promise<AuthenticatedUser | null> {
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return null;
  const token = await db.apiToken.findUnique({ where: { tokenHash: sha256Hex(secret) }, select: { id: true, userId: true, expiresAt: true, revokedAt: true, lastUsedAt: true, scopes: true } });
  if (!token || token.revokedAt || token.expiresAt <= now) return null;
  // Write lastUsedAt at most once a minute: tokens are used on every API call.
  if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: token.id }, data: { lastUsedAt: now } });
  }
  const user = await loadActiveUser(db, token.userId);
  return user ? { ...user, scopes: token.scopes as Scope[], token: { id: token.id, expiresAt: token.expiresAt } } : null;
}

/**
 * Ends every browser session and API token of `userId`: sessions carry the old sessionVersion, tokens
 * are revoked. Called in the transaction that resets a password, disables a user or changes a role, so
 * what was granted under the old terms never outlives them. `keepTokenId`: the token making an own
 * password change, which has just proved it knows the password. Returns how many tokens were revoked.
 */
export async function endSessionsAndTokens(tx: Db | Tx, userId: string, now = new Date(), keepTokenId?: string): Promise<number> {
  await tx.user.update({ where: { id: userId }, data: { sessionVersion: { increment: 1 } } });
  const { count } = await tx.apiToken.updateMany({ where: { userId, revokedAt: null, ...(keepTokenId ? { id: { not: keepTokenId } } : {}) }, data: { revokedAt: now } });
  return count;
}

/** Revokes the given tokens and every token minted from them (at any depth). Returns the ids revoked. */
async function revokeWithDescendants(tx: Db | Tx, ids: string[], now: Date): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await tx.$queryRaw<Array<{ id: string }>>`
    WITH RECURSIVE tree AS (
      SELECT "id" FROM "ApiToken" WHERE "id" = ANY(${ids}::uuid[])
      UNION SELECT t."id" FROM "ApiToken" t JOIN tree ON t."parentId" = tree."id"
    )
    UPDATE "ApiToken" SET "revokedAt" = ${now} WHERE "id" IN (SELECT "id" FROM tree) AND "revokedAt" IS NULL
    RETURNING "id"`;
  return rows.map((r) => r.id);
}

const DAY_MS = 86_400_000;
const MAX_TTL_DAYS = 365;
const tokenSelect = { id: true, name: true, scopes: true, expiresAt: true, createdAt: true } as const;

interface NewToken {
  userId: string;
  name: string;
  scopes: Scope[];
  expiresAt: Date;
  parentId?: string;
  clientKey?: string;
}

async function insertToken(tx: Db | Tx, t: NewToken) {
  const secret = newTokenSecret();
  const row = await tx.apiToken.create({
    data: { userId: t.userId, name: t.name, tokenHash: sha256Hex(secret), expiresAt: t.expiresAt, scopes: t.scopes, parentId: t.parentId, clientKey: t.clientKey },
    select: tokenSelect,
  });
  return { ...row, token: secret };
}

/** Serializes token creation per user, so concurrent sign-ins cannot overshoot the cap. */
async function lockUserTokens(tx: Tx, userId: string): Promise<void> {
  await tx.$queryRaw`SELECT 1 FROM "User" WHERE "id" = ${userId}::uuid FOR UPDATE`;
}

/**
 * `POST /api/v1/auth/token`: password → a token, shown once. A client is known by the token name it
 * signs in with (default "api"): its new sign-in replaces its previous token instead of piling up
 * another, and past VMDESK_TOKENS_MAX_PER_USER active tokens the oldest are revoked (with what they
 * minted). Scopes default to all the user's role allows.
 */
export async function issueTokenForCredentials(db: Db, input: { username: string; password: string; name?: string; ttlDays?: number; scopes?: Scope[] }, ip: string | null) {
  const user = await verifyCredentials(db, input.username, input.password, ip);
  const scopes = scopesForNewToken(user, input.scopes);
  const name = input.name ?? "api";
  const cfg = config();
  const now = new Date();
  const expiresAt = new Date(now.getTime() + Math.min(input.ttlDays ?? cfg.VMDESK_TOKEN_TTL_DAYS, MAX_TTL_DAYS) * DAY_MS);
  const { created, replaced, evicted } = await db.$transaction(async (tx) => {
    await lockUserTokens(tx, user.id);
    const previous = await tx.apiToken.findMany({ where: { userId: user.id, clientKey: name, revokedAt: null }, select: { id: true } });
    const replaced = await revokeWithDescendants(tx, previous.map((p) => p.id), now);
    const active = await tx.apiToken.findMany({ where: { userId: user.id, revokedAt: null, expiresAt: { gt: now } }, orderBy: { createdAt: "asc" }, select: { id: true } });
    const overflow = active.slice(0, Math.max(0, active.length - (cfg.VMDESK_TOKENS_MAX_PER_USER - 1)));
    const evicted = await revokeWithDescendants(tx, overflow.map((t) => t.id), now);
    const created = await insertToken(tx, { userId: user.id, name, scopes, expiresAt, clientKey: name });
    return { created, replaced, evicted };
  });
  const who = { actorId: user.id, actorName: user.username, ip };
  for (const id of replaced) await audit(db, who, { action: "token.revoke", targetType: "token", targetId: id, result: "ok", detail: { reason: "replaced by a new sign-in of the same client", client: name } });
  for (const id of evicted) await audit(db, who, { action: "token.revoke", targetType: "token", targetId: id, result: "ok", detail: { reason: "oldest beyond the per-user token limit" } });
  await audit(db, who, { action: "token.create", targetType: "token", targetId: created.id, result: "ok", detail: { scopes, client: name } });
  return created;
}

/**
 * `POST /tokens`: a token for the caller. Its scopes never exceed the caller's (a session: its role's;
 * a token: its own). A token minted by a token (`parent`, the caller's own) never outlives it: the
 * default TTL is capped to the parent's expiry, an explicit longer one is refused; and it is revoked
 * with it. At the per-user limit this is refused (409) rather than silently revoking a token someone
 * relies on.
 */
export async function createOwnToken(ctx: ServiceContext, input: { name: string; ttlDays?: number; scopes?: Scope[] }, parent?: AuthenticatedUser["token"]) {
  authorize(ctx.actor, "token.manageOwn");
  const scopes = scopesForNewToken(ctx.actor, input.scopes);
  const cfg = config();
  const now = new Date();
  let expiresAt = new Date(now.getTime() + Math.min(input.ttlDays ?? cfg.VMDESK_TOKEN_TTL_DAYS, MAX_TTL_DAYS) * DAY_MS);
  if (parent && expiresAt > parent.expiresAt) {
    if (input.ttlDays !== undefined) throw new AppError("FORBIDDEN", `a token cannot mint a token that outlives it (this one expires ${parent.expiresAt.toISOString()})`);
    expiresAt = parent.expiresAt;
  }
  const created = await ctx.db.$transaction(async (tx) => {
    await lockUserTokens(tx, ctx.actor.id);
    const active = await tx.apiToken.count({ where: { userId: ctx.actor.id, revokedAt: null, expiresAt: { gt: now } } });
    if (active >= cfg.VMDESK_TOKENS_MAX_PER_USER) {
      throw new AppError("CONFLICT", `you have ${active} active API tokens, the most allowed: revoke one first`);
    }
    return insertToken(tx, { userId: ctx.actor.id, name: input.name, scopes, expiresAt, parentId: parent?.id });
  });
  await auditAs(ctx, { action: "token.create", targetType: "token", targetId: created.id, result: "ok", detail: { scopes, ...(parent ? { mintedBy: parent.id } : {}) } });
  return created;
}

export async function listOwnTokens(ctx: ServiceContext) {
  authorize(ctx.actor, "token.manageOwn");
  return ctx.db.apiToken.findMany({
    where: { userId: ctx.actor.id, revokedAt: null },
    orderBy: { createdAt: "desc" },
    select: { id: true, name: true, scopes: true, createdAt: true, expiresAt: true, lastUsedAt: true },
  });
}

/** Revokes one of the caller's tokens and every token minted from it. */
export async function revokeOwnToken(ctx: ServiceContext, tokenId: string) {
  authorize(ctx.actor, "token.manageOwn");
  const owned = await ctx.db.apiToken.findFirst({ where: { id: tokenId, userId: ctx.actor.id, revokedAt: null }, select: { id: true } });
  if (!owned) throw new AppError("NOT_FOUND", "token not found");
  const revoked = await revokeWithDescendants(ctx.db, [owned.id], new Date());
  await auditAs(ctx, { action: "token.revoke", targetType: "token", targetId: tokenId, result: "ok", detail: revoked.length > 1 ? { alsoRevoked: revoked.filter((id) => id !== tokenId) } : undefined });
  return { id: tokenId, revoked: true };
}
