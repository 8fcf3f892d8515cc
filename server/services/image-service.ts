/**
 * The image library. Anyone signed in lists public images and their own private uploads; admins
 * register files already on a host and publish uploads (services/upload-service.ts receives them).
 */
import fs from "node:fs";
import path from "node:path";
import { Prisma } from "../../prisma/generated/client.ts";
import { config } from "../config.ts";
import { AppError } from "../domain/errors.ts";
import { isPathInside, parseHostUri } from "../domain/host-uri.ts";
import { authorize, can, imageScope } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { uploadDirs } from "./upload-service.ts";

export const imageSelect = {
  id: true, name: true, description: true, path: true, format: true, minDiskGiB: true, createdAt: true, sha256: true, sizeBytes: true, ownerId: true,
  host: { select: { id: true, name: true } },
} as const;

type ImageRow = Prisma.ImageGetPayload<{ select: typeof imageSelect }>;

/** An image as the caller may see it: file paths are host internals, so only admins see them. */
export function imageView(ctx: ServiceContext, image: ImageRow) {
  const sizeBytes = image.sizeBytes === null ? null : Number(image.sizeBytes);
  return { ...image, sizeBytes, public: image.ownerId === null, path: ctx.actor.role === "admin" ? image.path : null };
}

/** Public images and the caller's own private ones (admins: all), scoped in the query. */
export async function listImages(ctx: ServiceContext) {
  authorize(ctx.actor, "image.list");
  const images = await ctx.db.image.findMany({ where: imageScope(ctx.actor), orderBy: { name: "asc" }, select: imageSelect });
  return images.map((i) => imageView(ctx, i));
}

/** Makes a private (uploaded) image public: admins only. It then no longer counts in its uploader's quota. */
export async function publishImage(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "image.publish");
  const { count } = await ctx.db.image.updateMany({ where: { id, ownerId: { not: null } }, data: { ownerId: null } });
  if (count === 0 && !(await ctx.db.image.findUnique({ where: { id }, select: { id: true } }))) throw new AppError("NOT_FOUND", "image not found");
  await auditAs(ctx, { action: "image.publish", targetType: "image", targetId: id, result: "ok" });
  return imageView(ctx, await ctx.db.image.findUniqueOrThrow({ where: { id }, select: imageSelect }));
}

/**
 * An image path must lie inside the host's storage pool or an image directory vmdesk is configured
 * with (VMDESK_IMAGE_DIRS): never a device, /etc/shadow or another tenant's disk elsewhere. When the
 * host is this machine and the file exists, symlinks are resolved and the real path checked too.
 */
async function checkImagePath(file: string, host: { uri: string; poolPath: string }): Promise<void> {
  const dirs = [host.poolPath, ...config().imageDirs].map((d) => d.replace(/\/+$/, ""));
  if (!dirs.some((d) => isPathInside(file, d))) {
    throw new AppError("BAD_REQUEST", `path must lie inside the host's storage pool or an image directory (${dirs.join(", ")})`, { field: "path" });
  }
  const parsed = parseHostUri(host.uri, { keyfileDir: config().hostCredentialsDir });
  if (!parsed.ok || !parsed.uri.local) return;
  const real = await fs.promises.realpath(file).catch(() => null);
  if (real === null) return;
  const realDirs = await Promise.all(dirs.map((d) => fs.promises.realpath(d).catch(() => d)));
  if (!realDirs.some((d) => isPathInside(real, d))) {
    throw new AppError("BAD_REQUEST", `path resolves (through a symlink) to ${real}, outside the host's storage pool and image directories`, { field: "path" });
  }
}

export async function registerImage(ctx: ServiceContext, input: { name: string; description?: string; path: string; format: "qcow2" | "raw" | "iso"; minDiskGiB: number; hostId: string }) {
  authorize(ctx.actor, "image.manage");
  if (!path.isAbsolute(input.path) || path.normalize(input.path) !== input.path) {
    throw new AppError("BAD_REQUEST", "path must be an absolute, normalized path on the host", { field: "path" });
  }
  const host = await ctx.db.host.findUnique({ where: { id: input.hostId }, select: { id: true, uri: true, poolPath: true } });
  if (!host) throw new AppError("NOT_FOUND", "host not found");
  await checkImagePath(input.path, host);
  try {
    const image = await ctx.db.image.create({ data: { ...input, description: input.description ?? "" }, select: imageSelect });
    await auditAs(ctx, { action: "image.create", targetType: "image", targetId: image.id, result: "ok", detail: { ...input } });
    return imageView(ctx, image);
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new AppError("CONFLICT", `an image named "${input.name}" exists`);
    throw err;
  }
}

/**
 * Removes an image from the library: admins any, a tenant their own private uploads (another's is not
 * found). An uploaded file (under the uploads directory) is deleted with it; registered files are not.
 */
export async function deleteImage(ctx: ServiceContext, id: string) {
  const admin = can(ctx.actor, "image.manage");
  if (!admin) authorize(ctx.actor, "image.upload");
  // Scoped in the query: someone else's private image does not exist for the caller (404); a public
  // image they can see but did not upload is theirs to use, not to delete (403).
  const image = await ctx.db.image.findFirst({ where: { id, ...imageScope(ctx.actor) }, select: { path: true, ownerId: true } });
  if (!image) throw new AppError("NOT_FOUND", "image not found");
  if (!admin && image.ownerId !== ctx.actor.id) {
    await auditAs(ctx, { action: "image.delete", targetType: "image", targetId: id, result: "denied", detail: { reason: "not the uploader" } });
    throw new AppError("FORBIDDEN", "only admins delete public images; you may delete the images you uploaded");
  }
  const inUse = await ctx.db.vm.count({ where: { imageId: id, deletedAt: null } });
  if (inUse > 0) throw new AppError("CONFLICT", `image is used by ${inUse} VM(s) (their disks are linked clones of it)`);
  const { count } = await ctx.db.image.deleteMany({ where: { id } });
  if (count === 0) throw new AppError("NOT_FOUND", "image not found");
  if (isPathInside(image.path, uploadDirs().images)) await fs.promises.rm(image.path, { force: true });
  await auditAs(ctx, { action: "image.delete", targetType: "image", targetId: id, result: "ok" });
  return { id, deleted: true };
}
