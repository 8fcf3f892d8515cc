/**
 * A user's SSH public keys: kept per user (at most SSH_KEYS_PER_USER, no duplicates by fingerprint),
 * scoped so another user's key is simply not found, and resolved into authorized_keys lines when a
 * VM is created (the VM stores copies, so deleting a key later does not change it).
 */
import { createHash } from "node:crypto";
import { Prisma } from "../../prisma/generated/client.ts";
import { AppError } from "../domain/errors.ts";
import { authorize } from "../domain/policy.ts";
import { parseSshPublicKey, SSH_KEYS_PER_USER, sshKeyLine } from "../domain/ssh-key.ts";
import type { Db } from "../db/client.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";

/** `SHA256:<unpadded base64 of the blob's SHA-256>`, exactly as `ssh-keygen -lf` prints it. */
export function sshFingerprint(blobBase64: string): string {
  return `SHA256:${createHash("sha256").update(Buffer.from(blobBase64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

const keySelect = { id: true, name: true, type: true, blob: true, comment: true, bits: true, fingerprint: true, createdAt: true } as const;
type KeyRow = Prisma.SshKeyGetPayload<{ select: typeof keySelect }>;

function view(k: KeyRow) {
  return { id: k.id, name: k.name, type: k.type, bits: k.bits, comment: k.comment, fingerprint: k.fingerprint, publicKey: sshKeyLine(k), createdAt: k.createdAt };
}

export async function listOwnSshKeys(ctx: ServiceContext) {
  authorize(ctx.actor, "sshKey.manageOwn");
  const keys = await ctx.db.sshKey.findMany({ where: { userId: ctx.actor.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }], select: keySelect });
  return keys.map(view);
}

/**
 * Adds a key. The user's row is locked while counting, so concurrent adds cannot pass the cap
 * together; the same key twice (by fingerprint) is a 409, also under a race (unique index).
 */
export async function addOwnSshKey(ctx: ServiceContext, input: { name?: string; publicKey: string }) {
  authorize(ctx.actor, "sshKey.manageOwn");
  const parsed = parseSshPublicKey(input.publicKey);
  if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.reason, { field: "publicKey" });
  const { type, blob, comment, bits } = parsed.key;
  const fingerprint = sshFingerprint(blob);
  const name = input.name?.trim() || comment.slice(0, 100).trim() || type;
  try {
    const key = await ctx.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM "User" WHERE id = ${ctx.actor.id}::uuid FOR UPDATE`;
      const existing = await tx.sshKey.findMany({ where: { userId: ctx.actor.id }, select: { fingerprint: true } });
      if (existing.some((k) => k.fingerprint === fingerprint)) throw new AppError("CONFLICT", `you already have this key (${fingerprint})`);
      if (existing.length >= SSH_KEYS_PER_USER) throw new AppError("CONFLICT", `you may keep at most ${SSH_KEYS_PER_USER} SSH keys: delete one first`);
      return tx.sshKey.create({ data: { userId: ctx.actor.id, name, type, blob, comment, bits, fingerprint }, select: keySelect });
    });
    await auditAs(ctx, { action: "sshKey.add", targetType: "sshKey", targetId: key.id, result: "ok", detail: { type, bits, fingerprint } });
    return view(key);
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new AppError("CONFLICT", `you already have this key (${fingerprint})`);
    throw err;
  }
}

export async function deleteOwnSshKey(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "sshKey.manageOwn");
  const { count } = await ctx.db.sshKey.deleteMany({ where: { id, userId: ctx.actor.id } });
  if (count === 0) throw new AppError("NOT_FOUND", "SSH key not found");
  await auditAs(ctx, { action: "sshKey.delete", targetType: "sshKey", targetId: id, result: "ok" });
  return { id, deleted: true };
}

/**
 * The authorized_keys lines for a new VM of `userId`: all of their keys, or the named ones, each of
 * which must be theirs (an id that is not is reported as not found, like any foreign object).
 */
export async function resolveSshKeysForVm(db: Db, userId: string, selection: "all" | string[] | undefined): Promise<string[]> {
  if (selection === undefined) return [];
  if (selection === "all") {
    const keys = await db.sshKey.findMany({ where: { userId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }], select: keySelect });
    return keys.map(sshKeyLine);
  }
  const ids = [...new Set(selection)];
  const keys = ids.length ? await db.sshKey.findMany({ where: { userId, id: { in: ids } }, select: keySelect }) : [];
  if (keys.length !== ids.length) throw new AppError("NOT_FOUND", "SSH key not found", { field: "cloudInit.sshKeys" });
  const byId = new Map(keys.map((k) => [k.id, k]));
  return ids.map((id) => sshKeyLine(byId.get(id)!));
}
