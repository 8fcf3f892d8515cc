/**
 * Image uploads: a resumable upload (create → append chunks at the recorded offset → validate) and the
 * one-request form built from the same steps. Bytes stream to `<image dir>/uploads/.partial/<id>` with
 * backpressure and are hashed on the way; after the last byte qemu-img describes the file, and only a
 * self-contained image of the declared format becomes an Image, renamed to a generated name. A
 * tenant's image is private and counted in their imagesGiB quota (checked under the Quota row lock);
 * an admin's is public.
 */
import { createHash, randomUUID, type Hash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Prisma } from "../../prisma/generated/client.ts";
import { config } from "../config.ts";
import type { Db, Tx } from "../db/client.ts";
import { parseHostUri } from "../domain/host-uri.ts";
import { AppError } from "../domain/errors.ts";
import { judgeImageInfo, type UploadFormat } from "../domain/image-upload.ts";
import { authorize } from "../domain/policy.ts";
import { describeImagesExcess, imagesQuotaExcess, imagesRoomBytes } from "../domain/quota.ts";
import { log } from "../log.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { imageSelect, imageView } from "./image-service.ts";
import { hasIsoMagic, qemuImgInfo } from "./qemu-img.ts";

const GIB = 1024 ** 3;
const EXTENSION: Record<UploadFormat, string> = { qcow2: "qcow2", raw: "img", iso: "iso" };

const uploadSelect = { id: true, name: true, format: true, totalBytes: true, offset: true, state: true, error: true, imageId: true, createdAt: true, updatedAt: true } as const;
type UploadRow = Prisma.ImageUploadGetPayload<{ select: typeof uploadSelect }> ;

export function uploadView(u: UploadRow) {
  return { ...u, totalBytes: u.totalBytes === null ? null : Number(u.totalBytes), offset: Number(u.offset) };
}

/** Where finished uploads live (inside the first image directory) and where partial files wait. */
export function uploadDirs(): { images: string; partial: string } {
  const images = path.join(config().imageDirs[0] ?? path.join(config().dataDir, "images"), "uploads");
  return { images, partial: path.join(images, ".partial") };
}

const partialPath = (id: string) => path.join(uploadDirs().partial, id);

/**
 * The running sha256 of each upload this process is appending to, valid for `offset` bytes. After a
 * restart or an append that lost bytes between hash and disk it is recomputed from the partial file.
 */
const hashes = new Map<string, { hash: Hash; offset: number }>();
/** Uploads a request is appending to right now: a second concurrent PUT is refused. */
const appending = new Set<string>();

/**
 * Locks the user's Quota row and returns their images limit and usage: their private images' file
 * sizes plus every unfinished upload's declared total (or what it has written, when undeclared),
 * `except` one upload. Racing uploads serialize on the lock, so together they never pass the limit.
 */
async function lockImagesQuota(tx: Tx, userId: string, except?: string): Promise<{ limitGiB: number; usedBytes: number }> {
  await tx.$executeRaw`INSERT INTO "Quota" ("userId", "updatedAt") VALUES (${userId}::uuid, now()) ON CONFLICT DO NOTHING`;
  const [q] = await tx.$queryRaw<Array<{ maxImagesGiB: number }>>`SELECT "maxImagesGiB" FROM "Quota" WHERE "userId" = ${userId}::uuid FOR UPDATE`;
  if (!q) throw new Error("quota row vanished");
  return { limitGiB: q.maxImagesGiB, usedBytes: await imagesUsedBytes(tx, userId, except) };
}

async function imagesUsedBytes(db: Db | Tx, userId: string, except?: string): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ used: bigint }>>`
    SELECT (SELECT COALESCE(SUM("sizeBytes"), 0) FROM "Image" WHERE "ownerId" = ${userId}::uuid)
         + (SELECT COALESCE(SUM(COALESCE("totalBytes", "offset")), 0) FROM "ImageUpload"
            WHERE "ownerId" = ${userId}::uuid AND "state" IN ('uploading', 'validating') AND "id"::text <> ${except ?? ""}) AS used`;
  return Number(row?.used ?? 0);
}

/** The host uploads are kept on: the first host whose URI points at this machine (others copy on first use). */
async function localHostId(db: Db): Promise<string> {
  const hosts = await db.host.findMany({ select: { id: true, uri: true }, orderBy: { createdAt: "asc" } });
  const local = hosts.find((h) => {
    const parsed = parseHostUri(h.uri, { keyfileDir: config().hostCredentialsDir });
    return parsed.ok && parsed.uri.local;
  });
  if (!local) throw new AppError("UNAVAILABLE", "no host runs on the portal's machine to keep uploaded images");
  return local.id;
}

export interface NewUpload {
  name: string;
  description?: string;
  format: UploadFormat;
  /** The whole file's size; null for a one-request upload without Content-Length. */
  totalBytes: number | null;
}

/**
 * Records an upload and creates its empty partial file. Refused before a byte is sent: a declared size
 * above VMDESK_UPLOAD_MAX_GIB (PAYLOAD_TOO_LARGE), one that does not fit the images quota
 * (QUOTA_EXCEEDED), a tenant's VMDESK_UPLOAD_MAX_OPEN_PER_USER unfinished uploads already open
 * (QUOTA_EXCEEDED), a name already taken (CONFLICT), no local host (UNAVAILABLE).
 */
export async function createUpload(ctx: ServiceContext, input: NewUpload) {
  authorize(ctx.actor, "image.upload");
  const maxBytes = config().VMDESK_UPLOAD_MAX_GIB * GIB;
  if (input.totalBytes !== null && input.totalBytes > maxBytes) {
    throw new AppError("PAYLOAD_TOO_LARGE", `the file (${input.totalBytes} bytes) is larger than the upload limit of ${config().VMDESK_UPLOAD_MAX_GIB} GiB`);
  }
  if (input.totalBytes === 0) throw new AppError("BAD_REQUEST", "the file is empty");
  await purgeStaleUploads(ctx.db, new Date()).catch((err) => log.error({ err }, "stale upload purge failed"));
  await localHostId(ctx.db);
  const upload = await ctx.db.$transaction(async (tx) => {
    if (ctx.actor.role !== "admin") {
      const q = await lockImagesQuota(tx, ctx.actor.id);
      const excess = imagesQuotaExcess(q.limitGiB, q.usedBytes, input.totalBytes ?? 1);
      if (excess) throw new AppError("QUOTA_EXCEEDED", describeImagesExcess(excess), { excess });
      // The quota counts bytes: without a count, a tenant declaring 1-byte uploads could open them
      // by the million (rows, partial files, streams held open). Counted under the same lock.
      const max = config().VMDESK_UPLOAD_MAX_OPEN_PER_USER;
      const open = await tx.imageUpload.count({ where: { ownerId: ctx.actor.id, state: { in: ["uploading", "validating"] } } });
      if (open >= max) throw new AppError("QUOTA_EXCEEDED", `at most ${max} unfinished uploads at a time: finish or cancel one first`, { openUploads: open });
    }
    if (await tx.image.findFirst({ where: { name: input.name }, select: { id: true } })) throw new AppError("CONFLICT", `an image named "${input.name}" exists`);
    return tx.imageUpload.create({
      data: { ownerId: ctx.actor.id, name: input.name, description: input.description ?? "", format: input.format, totalBytes: input.totalBytes },
      select: uploadSelect,
    });
  });
  await fs.promises.mkdir(uploadDirs().partial, { recursive: true, mode: 0o755 });
  await fs.promises.writeFile(partialPath(upload.id), "", { mode: 0o600, flag: "w" });
  hashes.set(upload.id, { hash: createHash("sha256"), offset: 0 });
  return uploadView(upload);
}

/** The caller's own upload, or NOT_FOUND (another user's upload does not exist for them). */
async function ownUpload(ctx: ServiceContext, id: string): Promise<UploadRow & { description: string }> {
  const u = await ctx.db.imageUpload.findFirst({ where: { id, ownerId: ctx.actor.id }, select: { ...uploadSelect, description: true } });
  if (!u) throw new AppError("NOT_FOUND", "upload not found");
  return u;
}

export async function getUpload(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "image.upload");
  return uploadView(await ownUpload(ctx, id));
}

/** Deletes an unfinished upload and its partial file (its quota reservation goes with it). */
export async function cancelUpload(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "image.upload");
  const u = await ownUpload(ctx, id);
  if (u.state === "validating" || appending.has(id)) throw new AppError("CONFLICT", "the upload is busy; try again when its request has ended");
  await discard(ctx.db, id);
  return { id, deleted: true };
}

async function discard(db: Db, id: string): Promise<void> {
  hashes.delete(id);
  await fs.promises.rm(partialPath(id), { force: true });
  await db.imageUpload.deleteMany({ where: { id } });
}

/** The sha256 of the first `offset` bytes of the partial file: the running one when it is valid, else read back. */
async function hashAt(id: string, offset: number): Promise<Hash> {
  const kept = hashes.get(id);
  if (kept && kept.offset === offset) return kept.hash;
  const hash = createHash("sha256");
  if (offset > 0) await pipeline(fs.createReadStream(partialPath(id), { start: 0, end: offset - 1 }), hash);
  hashes.set(id, { hash, offset });
  return hash;
}

export interface Chunk {
  /** Where the chunk starts: must be the recorded offset. */
  start: number;
  /** The whole file's size as this request states it (Content-Range), if it does. */
  total: number | null;
  /** The chunk's declared length (Content-Length), if declared. */
  length: number | null;
}

/**
 * Appends `body` at `chunk.start`, which must equal the recorded offset (CONFLICT naming the offset
 * otherwise, so the client resumes from there). Streams with backpressure, counting: a body running
 * past the declared total, or (undeclared) past the upload limit or the quota room, is cut off with
 * PAYLOAD_TOO_LARGE. Whatever reached the disk counts, also when the connection drops: the offset is
 * recorded after every request. The last byte triggers validation; returns the upload and, once
 * complete, the image.
 */
export async function appendUpload(ctx: ServiceContext, id: string, chunk: Chunk, body: Readable, signal?: AbortSignal) {
  authorize(ctx.actor, "image.upload");
  const u = await ownUpload(ctx, id);
  if (u.state !== "uploading") throw new AppError("WRONG_STATE", `the upload is ${u.state}${u.error ? `: ${u.error}` : ""}`);
  const declared = u.totalBytes === null ? null : Number(u.totalBytes);
  if (chunk.total !== null && declared !== null && chunk.total !== declared) throw new AppError("BAD_REQUEST", `the upload's total size is ${declared}, not ${chunk.total}`);
  const offset = Number(u.offset);
  if (chunk.start !== offset) throw new AppError("CONFLICT", `the upload is at byte ${offset}: send from there`, { offset });
  const cap = declared !== null ? declared - offset : await undeclaredRoom(ctx, id, offset);
  if (chunk.length !== null && chunk.length > cap) throw new AppError("PAYLOAD_TOO_LARGE", `the chunk runs ${chunk.length - cap} bytes past what the upload may still take`);
  if (appending.has(id)) throw new AppError("CONFLICT", "another request is appending to this upload", { offset });
  appending.add(id);
  let written = 0;
  try {
    const file = partialPath(id);
    await fs.promises.truncate(file, offset);
    const hash = await hashAt(id, offset);
    let hashed = 0;
    let overflow = false;
    const meter = new Transform({
      transform(data: Buffer, _enc, done) {
        if (hashed + data.length > cap) {
          overflow = true;
          return done(new AppError("PAYLOAD_TOO_LARGE", declared !== null ? "the body runs past the upload's declared size" : "the upload is larger than the upload limit or the images quota allows"));
        }
        hash.update(data);
        hashed += data.length;
        done(null, data);
      },
    });
    const out = fs.createWriteStream(file, { flags: "r+", start: offset });
    let failure: unknown = null;
    // The body is piped rather than put in the pipeline, so a refusal does not destroy the request:
    // its connection stays usable for the answer.
    const flowing = pipeline(meter, out, signal ? { signal } : {});
    const cutShort = () => void (body.readableEnded || meter.destroy(new Error("the request ended before its body")));
    const broken = (err: Error) => meter.destroy(err);
    body.once("close", cutShort);
    body.once("error", broken);
    body.pipe(meter);
    await flowing.catch((err: unknown) => (failure = err));
    body.unpipe(meter);
    body.off("close", cutShort);
    body.off("error", broken);
    written = out.bytesWritten;
    // The running hash stays valid only if it saw exactly the bytes that reached the file.
    if (hashed === written) hashes.set(id, { hash, offset: offset + written });
    else {
      hashes.delete(id);
      await fs.promises.truncate(file, offset + written);
    }
    await ctx.db.imageUpload.update({ where: { id }, data: { offset: offset + written } });
    if (failure) {
      if (overflow && declared === null) await discard(ctx.db, id);
      if (failure instanceof AppError) throw failure;
      throw new AppError("BAD_REQUEST", `the upload was interrupted at byte ${offset + written}: resume from there`, { offset: offset + written });
    }
  } finally {
    appending.delete(id);
  }
  const now = offset + written;
  if (declared === null || now < declared) return { upload: uploadView({ ...u, offset: BigInt(now) }), image: null };
  return { upload: uploadView({ ...u, offset: BigInt(now), state: "done" }), image: await finishUpload(ctx, id) };
}

/** What an upload of undeclared size may still take: the upload limit, and for tenants the quota room. */
async function undeclaredRoom(ctx: ServiceContext, id: string, offset: number): Promise<number> {
  const limit = config().VMDESK_UPLOAD_MAX_GIB * GIB - offset;
  if (ctx.actor.role === "admin") return limit;
  const [q] = await ctx.db.$queryRaw<Array<{ maxImagesGiB: number }>>`SELECT "maxImagesGiB" FROM "Quota" WHERE "userId" = ${ctx.actor.id}::uuid`;
  return Math.min(limit, imagesRoomBytes(q?.maxImagesGiB ?? 0, await imagesUsedBytes(ctx.db, ctx.actor.id, id)) - offset);
}

/**
 * Validates a completely received upload and turns it into an Image. Refusals (BAD_REQUEST, naming the
 * reason) delete the file and mark the upload failed. The image is stored under a generated name; a
 * tenant's counts against the quota, re-checked under the lock (an undeclared upload reserved nothing).
 */
export async function finishUpload(ctx: ServiceContext, id: string) {
  const u = await ownUpload(ctx, id);
  const { count } = await ctx.db.imageUpload.updateMany({ where: { id, state: "uploading" }, data: { state: "validating", totalBytes: u.offset } });
  if (count === 0) throw new AppError("CONFLICT", "the upload is already being finished");
  const size = Number(u.offset);
  const file = partialPath(id);
  const fail = async (code: "BAD_REQUEST" | "QUOTA_EXCEEDED" | "CONFLICT", reason: string, remove?: string): Promise<never> => {
    await fs.promises.rm(remove ?? file, { force: true });
    hashes.delete(id);
    await ctx.db.imageUpload.update({ where: { id }, data: { state: "failed", error: reason } });
    await auditAs(ctx, { action: "image.upload", targetType: "upload", targetId: id, result: "denied", detail: { name: u.name, format: u.format, reason } });
    throw new AppError(code, reason);
  };
  const sha256 = (await hashAt(id, size)).digest("hex");
  hashes.delete(id);
  const format = u.format as UploadFormat;
  let info: unknown;
  try {
    info = await qemuImgInfo(file, config().VMDESK_QEMU_IMG_TIMEOUT_S * 1000);
  } catch (err) {
    return fail("BAD_REQUEST", err instanceof Error ? err.message : "qemu-img info failed");
  }
  const verdict = judgeImageInfo(info, format, format === "iso" && (await hasIsoMagic(file)), { maxVirtualBytes: config().VMDESK_UPLOAD_MAX_VIRTUAL_GIB * GIB });
  if (!verdict.ok) return fail("BAD_REQUEST", verdict.reason);
  const dest = path.join(uploadDirs().images, `${randomUUID()}.${EXTENSION[format]}`);
  await fs.promises.rename(file, dest);
  // QEMU (libvirt-qemu) reads it as the backing file of linked clones.
  await fs.promises.chmod(dest, 0o644);
  const hostId = await localHostId(ctx.db);
  const isAdmin = ctx.actor.role === "admin";
  try {
    const image = await ctx.db.$transaction(async (tx) => {
      if (!isAdmin) {
        const q = await lockImagesQuota(tx, ctx.actor.id, id);
        const excess = imagesQuotaExcess(q.limitGiB, q.usedBytes, size);
        if (excess) throw new AppError("QUOTA_EXCEEDED", describeImagesExcess(excess), { excess });
      }
      const image = await tx.image.create({
        data: { name: u.name, description: u.description, path: dest, format, minDiskGiB: verdict.minDiskGiB, sha256, sizeBytes: size, ownerId: isAdmin ? null : ctx.actor.id, hostId },
        select: imageSelect,
      });
      await tx.imageUpload.update({ where: { id }, data: { state: "done", imageId: image.id } });
      return image;
    });
    await auditAs(ctx, { action: "image.upload", targetType: "image", targetId: image.id, result: "ok", detail: { name: u.name, format, sizeBytes: size, sha256, public: isAdmin } });
    return imageView(ctx, image);
  } catch (err) {
    if (err instanceof AppError && err.code === "QUOTA_EXCEEDED") return fail("QUOTA_EXCEEDED", err.message, dest);
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") return fail("CONFLICT", `an image named "${u.name}" exists`, dest);
    await fs.promises.rm(dest, { force: true });
    throw err;
  }
}

/**
 * The one-request upload (`curl -T`): create, append the whole body, validate. `length` is the
 * Content-Length, null for a chunked body. Any failure removes the upload and its file.
 */
export async function uploadWhole(ctx: ServiceContext, input: Omit<NewUpload, "totalBytes">, length: number | null, body: Readable, signal?: AbortSignal) {
  const upload = await createUpload(ctx, { ...input, totalBytes: length });
  try {
    const done = await appendUpload(ctx, upload.id, { start: 0, total: length, length }, body, signal);
    const image = done.image ?? (await finishUpload(ctx, upload.id));
    return image;
  } catch (err) {
    await discard(ctx.db, upload.id).catch(() => undefined);
    throw err;
  }
}

/**
 * Deletes uploads untouched for VMDESK_UPLOAD_STALE_H (abandoned, failed or long finished) with their
 * partial files. Run by the leader's housekeeping and before each new upload.
 */
export async function purgeStaleUploads(db: Db, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - config().VMDESK_UPLOAD_STALE_H * 3600_000);
  const stale = await db.imageUpload.findMany({ where: { updatedAt: { lt: cutoff } }, select: { id: true } });
  for (const { id } of stale) {
    if (appending.has(id)) continue;
    await discard(db, id);
  }
  return stale.length;
}

/** The caller's images limit and usage (private images plus unfinished uploads). */
export async function imagesQuota(ctx: ServiceContext) {
  authorize(ctx.actor, "quota.readOwn");
  const q = await ctx.db.quota.findUnique({ where: { userId: ctx.actor.id }, select: { maxImagesGiB: true } });
  return { limitGiB: q?.maxImagesGiB ?? 0, usedBytes: await imagesUsedBytes(ctx.db, ctx.actor.id) };
}

export async function setImagesQuota(ctx: ServiceContext, userId: string, imagesGiB: number) {
  authorize(ctx.actor, "quota.manage");
  const user = await ctx.db.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new AppError("NOT_FOUND", "user not found");
  await ctx.db.quota.upsert({ where: { userId }, create: { userId, maxImagesGiB: imagesGiB }, update: { maxImagesGiB: imagesGiB } });
  await auditAs(ctx, { action: "quota.update", targetType: "user", targetId: userId, result: "ok", detail: { imagesGiB } });
  return { limitGiB: imagesGiB, usedBytes: await imagesUsedBytes(ctx.db, userId) };
}
