/**
 * Images everywhere: an image lives on one host (or on shared storage every host mounts); a VM placed
 * on another host gets the image copied into that host's pool the first time, through libvirt's own
 * volume streams over the connections the portal already holds (download from the image's host,
 * upload to the VM's host: no scp, no second transport, no credentials between hosts).
 *
 * Once per image and host, however many creates need it at the same moment, in however many workers:
 * the ImageReplica row (unique per image and host) is claimed by one operation, which copies and
 * beats a heartbeat on it; the others wait, showing the copy's progress, and take the claim over only
 * when the copier has been silent for COPIER_SILENT_MS (its worker died) or the copy failed.
 *
 * Checksum: the bytes read from the image's host are hashed while they stream; the first whole read
 * records the image's sha256 (trust on first use), every later copy must match it, and the copy is
 * read back from the destination and hashed again before it is marked ready. A mismatch deletes the
 * copy and fails the operation.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import type { Db } from "../db/client.ts";
import { HypervisorError, VIR_ERR, type HostConnection, type VolumeReader } from "../hypervisor/driver.ts";
import { buildVolumeXml } from "../hypervisor/xml/index.ts";
import type { HostRow, ImageRow } from "./vm-layout.ts";

/** What a job knows of the VM's image: where its own file is, and whether every host sees it there. */
export interface ImageSource extends ImageRow {
  id: string;
  name: string;
  shared: boolean;
  hostId: string;
  sha256: string | null;
}

export const COPY_CHUNK_BYTES = 4 * 1024 * 1024;
/** A copier that has not reported for this long is taken as dead; a waiter takes the copy over. */
export const COPIER_SILENT_MS = 30_000;
const WAIT_POLL_MS = 500;
const PROGRESS_EVERY_MS = 1_000;
const MiB = 1024 * 1024;

/**
 * The copy's volume in a host's pool; the image's id keeps names unique and free of user text. In a
 * shared pool every host sharing it sees the same directory, so each host's copy carries the host's
 * id: one host's copy (or its clean-up of a failed one) never touches a file another host's VMs use.
 */
export function replicaVolumeName(image: Pick<ImageSource, "id" | "format">, host: Pick<HostRow, "id" | "poolShared">): string {
  return host.poolShared ? `vmdesk-image-${image.id}-${host.id}.${image.format}` : `vmdesk-image-${image.id}.${image.format}`;
}

/** Whether a VM on `hostId` reads the image's own file (no copy needed). */
export function imageIsLocalTo(image: Pick<ImageSource, "shared" | "hostId">, hostId: string): boolean {
  return image.shared || image.hostId === hostId;
}

export interface ImageCopyContext {
  db: Db;
  /** The operation asking (it claims the copy). */
  operationId: string;
  /** The host that needs the image, and its connection. */
  host: HostRow;
  conn: HostConnection;
  /** Connections to other hosts (the image's own). */
  connect(host: HostRow): HostConnection;
  step(name: string, progress: number): Promise<void>;
  sleep(ms: number): Promise<void>;
  now(): Date;
}

/**
 * The image's path on ctx.host, copying it there first when it is not. Resolves once a verified copy
 * is in the host's pool (made by this operation or by another one).
 */
export async function ensureImageOnHost(ctx: ImageCopyContext, image: ImageSource, progress: { from: number; to: number }): Promise<ImageRow> {
  if (imageIsLocalTo(image, ctx.host.id)) return { path: image.path, format: image.format };
  const key = { imageId: image.id, hostId: ctx.host.id };
  await ctx.db.imageReplica.createMany({ data: [{ ...key, state: "failed", error: "not copied yet" }], skipDuplicates: true });
  for (;;) {
    const row = await ctx.db.imageReplica.findUniqueOrThrow({ where: { imageId_hostId: key } });
    if (row.state === "ready" && row.path) {
      // Someone may have deleted the file since: then it is copied again.
      if (await ctx.conn.volumePath(ctx.host.poolName, replicaVolumeName(image, ctx.host))) return { path: row.path, format: image.format };
      await ctx.db.imageReplica.updateMany({ where: { id: row.id, state: "ready" }, data: { state: "failed", path: null, error: "the copy vanished from the host's pool" } });
      continue;
    }
    if (await claim(ctx, row.id)) {
      return copy(ctx, image, row.id, progress);
    }
    const pct = row.bytesTotal > 0n ? Math.floor(Number((row.bytesDone * 100n) / row.bytesTotal)) : 0;
    await ctx.step(`waiting for image "${image.name}" to reach this host (${pct} %)`, progress.from);
    await ctx.sleep(WAIT_POLL_MS);
  }
}

/** Takes the copy when nobody is making it: never copied, failed, or its copier went silent. */
async function claim(ctx: ImageCopyContext, replicaId: string): Promise<boolean> {
  const silentSince = new Date(ctx.now().getTime() - COPIER_SILENT_MS);
  const { count } = await ctx.db.imageReplica.updateMany({
    where: {
      id: replicaId,
      OR: [{ state: "failed" }, { state: "copying", OR: [{ heartbeatAt: null }, { heartbeatAt: { lt: silentSince } }] }],
    },
    data: { state: "copying", claimedBy: ctx.operationId, heartbeatAt: ctx.now(), bytesDone: 0n, error: null, attempts: { increment: 1 } },
  });
  return count === 1;
}

async function copy(ctx: ImageCopyContext, image: ImageSource, replicaId: string, progress: { from: number; to: number }): Promise<ImageRow> {
  const ours = { id: replicaId, claimedBy: ctx.operationId, state: "copying" };
  try {
    const source = await ctx.db.host.findUniqueOrThrow({ where: { id: image.hostId } });
    const sourceConn = ctx.connect(source);
    const reader = await openImage(sourceConn, image);
    const volume = replicaVolumeName(image, ctx.host);
    // A failed earlier copy may have left a partial volume.
    await ctx.conn.deleteVolume(ctx.host.poolName, volume);
    const destPath = await ctx.conn.createVolume(ctx.host.poolName, rawVolumeXml(volume, reader.bytes));
    await ctx.db.imageReplica.updateMany({ where: ours, data: { bytesTotal: BigInt(reader.bytes) } });

    let lastReport = 0;
    const report = async (done: number, phase: string, share: number) => {
      const now = Date.now();
      if (now - lastReport < PROGRESS_EVERY_MS && done < reader.bytes) return;
      lastReport = now;
      const { count } = await ctx.db.imageReplica.updateMany({ where: ours, data: { bytesDone: BigInt(done), heartbeatAt: ctx.now() } });
      if (count === 0) throw new Error(`the copy of image "${image.name}" was taken over by another operation`);
      const fraction = reader.bytes > 0 ? done / reader.bytes : 1;
      await ctx.step(`${phase} image "${image.name}": ${Math.round(done / MiB)} of ${Math.round(reader.bytes / MiB)} MiB`, Math.round(progress.from + (progress.to - progress.from) * share * fraction));
    };

    const writer = await ctx.conn.openVolumeWriter(ctx.host.poolName, volume, reader.bytes);
    let sourceHash: string;
    try {
      sourceHash = await pump(reader, (chunk) => writer.write(chunk), (done) => report(done, "copying", 0.8));
      await writer.finish();
    } catch (err) {
      await Promise.all([reader.abort(), writer.abort()]);
      throw err;
    }
    if (image.sha256 && image.sha256 !== sourceHash) {
      throw new Error(`image "${image.name}" on its host no longer matches its checksum (sha256 ${sourceHash}, recorded ${image.sha256}): not copied`);
    }
    // Read back what the destination stored: the copy is used only when it is the same bytes.
    const back = await ctx.conn.openVolumeReader(destPath);
    const copyHash = await pump(back, async () => undefined, async () => undefined);
    if (copyHash !== sourceHash) {
      await ctx.conn.deleteVolume(ctx.host.poolName, volume);
      throw new Error(`the copy of image "${image.name}" on ${ctx.host.id} does not match (sha256 ${copyHash}, source ${sourceHash}): deleted`);
    }
    await ctx.db.image.updateMany({ where: { id: image.id, sha256: null }, data: { sha256: sourceHash } });
    await ctx.db.imageReplica.updateMany({ where: ours, data: { state: "ready", path: destPath, bytesDone: BigInt(reader.bytes), heartbeatAt: ctx.now() } });
    await ctx.step(`image "${image.name}" copied and verified`, progress.to);
    return { path: destPath, format: image.format };
  } catch (err) {
    await ctx.db.imageReplica
      .updateMany({ where: ours, data: { state: "failed", error: err instanceof Error ? err.message.slice(0, 1000) : String(err) } })
      .catch(() => undefined);
    throw err;
  }
}

/**
 * Opens the image's file on its host. libvirt reads only volumes of its pools: a file outside every
 * pool is reached through a pool vmdesk defines over the image's directory.
 */
async function openImage(conn: HostConnection, image: ImageSource): Promise<VolumeReader> {
  try {
    return await conn.openVolumeReader(image.path);
  } catch (err) {
    if (!(err instanceof HypervisorError && err.code === VIR_ERR.NO_STORAGE_VOL)) throw err;
  }
  const dir = path.dirname(image.path);
  await conn.ensureDirPool(imageDirPoolName(dir), dir);
  return conn.openVolumeReader(image.path);
}

export function imageDirPoolName(dir: string): string {
  return `vmdesk-images-${createHash("sha256").update(dir).digest("hex").slice(0, 12)}`;
}

/** Reads `reader` to its end, handing each chunk on; returns the sha256 (hex) of everything read. */
async function pump(reader: VolumeReader, write: (chunk: Buffer) => Promise<void>, onProgress: (done: number) => Promise<void>): Promise<string> {
  const hash = createHash("sha256");
  let done = 0;
  for (;;) {
    const chunk = await reader.read(COPY_CHUNK_BYTES);
    if (chunk.length === 0) break;
    hash.update(chunk);
    await write(chunk);
    done += chunk.length;
    if (done > reader.bytes) throw new Error(`the image's stream sent more than its ${reader.bytes} bytes`);
    await onProgress(done);
  }
  if (done !== reader.bytes) throw new Error(`the image's stream ended after ${done} of ${reader.bytes} bytes`);
  return hash.digest("hex");
}

/** The copy's volume: a plain file of exactly the image's size, filled by the upload. */
function rawVolumeXml(name: string, bytes: number): string {
  return buildVolumeXml({ name, capacityBytes: bytes, format: "raw" });
}
