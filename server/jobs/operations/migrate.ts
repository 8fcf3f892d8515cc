/**
 * Live migration of a running VM to another host (operation kind "migrate", params `{ destHostId }`).
 *
 * Peer to peer: the source host's daemon connects to the destination's (migrationTarget: the
 * destination's URI without the portal's own credentials) and streams the guest's memory, and its
 * disk (an incremental copy of the overlay: the image it is backed by must already be on the
 * destination at the same path, which placement checks). Between hosts that share their pool
 * (domain/shared-storage) the overlay is the same file on both: memory moves, the disk stays. The
 * destination is prepared first like a create would (pool, guest networking, class network, an
 * empty overlay unless shared), so the guest's interface and disk find what they reference there.
 *
 * Resumable: a retry first asks where the domain runs. Already on the destination (and gone here):
 * the migration finished before the worker died, so only the database is brought along. Still
 * here: migrate (again). On failure libvirt leaves the guest running on the source; compensation
 * clears the reservation on the destination.
 */
import { HypervisorError, VIR_ERR, type DomainRunState, type HostConnection } from "../../hypervisor/driver.ts";
import { migrationTarget } from "../../domain/host-uri.ts";
import { sharesPool } from "../../domain/shared-storage.ts";
import { notifyVmChanged } from "../../db/notify.ts";
import { diskVolumeName, type HostRow } from "../vm-layout.ts";
import { deleteSeed, ensureSeed } from "../cloud-init-seed.ts";
import { ensureDisk, ensureNetwork, ensurePool, recordObservedState, type Handler, type JobContext } from "./context.ts";

/** A migration that has not finished in this long is aborted (and rolls back). */
export const MIGRATION_TIMEOUT_MS = 10 * 60_000;
const PROGRESS_EVERY_MS = 1_000;

const MiB = 1024 * 1024;

export async function stateOn(conn: HostConnection, domain: string): Promise<DomainRunState | null> {
  try {
    return await conn.domainState(domain);
  } catch (err) {
    if (err instanceof HypervisorError && err.code === VIR_ERR.NO_DOMAIN) return null;
    throw err;
  }
}

export const live = (s: DomainRunState | null) => s === "running" || s === "paused" || s === "blocked";

/** Whether the VM's disk is one file both hosts reach (a pool they share): then it does not move. */
export const diskStays = (from: HostRow, to: HostRow) => sharesPool({ ...from, poolShared: from.poolShared ?? false }, { ...to, poolShared: to.poolShared ?? false });

export function migrationDestination(ctx: JobContext): string {
  const dest = (ctx.op.params as { destHostId?: unknown } | null)?.destHostId;
  if (typeof dest !== "string") throw new Error("migrate: the operation names no destination host");
  return dest;
}

export const migrate: Handler = async (ctx) => {
  const destHostId = migrationDestination(ctx);
  const dest = await ctx.db.host.findUniqueOrThrow({ where: { id: destHostId } });
  const destConn = ctx.connect(dest);
  const domain = ctx.vm.domainName;
  // Where the destination's view of this VM is needed, the steps see the destination as "the host".
  const there: JobContext = { ...ctx, host: dest, conn: destConn };

  if (ctx.vm.hostId === dest.id || (live(await stateOn(destConn, domain)) && (await stateOn(ctx.conn, domain)) === null)) {
    await ctx.step("already on the destination: recording it", 95);
    await land(ctx, there);
    return;
  }
  const here = await stateOn(ctx.conn, domain);
  if (!live(here)) throw new Error(`only a running or paused VM can be live-migrated; its domain is ${here ?? "absent"} on its host`);
  const target = migrationTarget(dest.uri);
  if (!target) throw new Error(`host ${dest.name} (${dest.uri}) is not a remote host: nothing can migrate to it`);

  const storage = diskStays(ctx.host, dest) ? "shared" : "copy";
  await ctx.step(`preparing ${dest.name}`, 10);
  await ensurePool(there);
  await ensureNetwork(there);
  if (storage === "copy") {
    await ensureDisk(there);
    // A read-only disc is not copied by the migration: the seed must be there already.
    await ensureSeed(destConn, dest, ctx.vm);
  }

  await ctx.step(storage === "shared" ? `migrating to ${dest.name} (memory only: shared storage)` : `migrating to ${dest.name}`, 20);
  let lastReport = 0;
  const progress = setInterval(() => {
    void ctx.conn
      .domainJob(domain)
      .then(async (job) => {
        if (!job || job.dataTotal <= 0) return;
        const done = Math.min(1, job.dataProcessed / job.dataTotal);
        const now = Date.now();
        if (now - lastReport < PROGRESS_EVERY_MS) return;
        lastReport = now;
        await ctx.step(`migrating to ${dest.name}: ${Math.round(job.dataProcessed / MiB)} of ${Math.round(job.dataTotal / MiB)} MiB`, 20 + Math.round(70 * done));
      })
      .catch(() => undefined);
  }, PROGRESS_EVERY_MS);
  try {
    await ctx.conn.migrateDomain(domain, target, { storage, timeoutMs: MIGRATION_TIMEOUT_MS });
  } finally {
    clearInterval(progress);
  }
  await ctx.step("recording the new host", 95);
  await land(ctx, there);
  // The source's overlay was copied; what stays behind is a stale duplicate (unless it is the same file).
  if (storage === "copy") {
    await ctx.conn.deleteVolume(ctx.host.poolName, diskVolumeName(ctx.vm)).catch(() => undefined);
    await deleteSeed(ctx.conn, ctx.host, ctx.vm).catch(() => undefined);
  }
};

/**
 * The VM now lives on the destination: its row says so, its reservation there is its placement (and
 * an HA restart that brought it there is over).
 */
export async function land(ctx: JobContext, there: JobContext): Promise<void> {
  // A disk another host created in the shared pool is a file this host's pool has not listed yet: a
  // refresh lists it, so deleting the VM here later deletes the file too.
  if (diskStays(ctx.host, there.host)) await there.conn.ensureDirPool(there.host.poolName, there.host.poolPath);
  await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { hostId: there.host.id, targetHostId: null, haRestartAt: null, haError: null, haFencingRequired: false } });
  await recordObservedState({ ...there, vm: { ...ctx.vm, hostId: there.host.id } });
  await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
}

/**
 * A migration that failed for good: the guest still runs on the source (libvirt rolled back), the
 * destination's reservation is released and the overlay prepared there removed, unless the domain
 * did arrive there after all (then the next relist, or a new migrate, records it).
 */
export async function abandonMigration(ctx: JobContext, reason: string): Promise<void> {
  await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { targetHostId: null, stateMessage: `live migration failed: ${reason}` } });
  const destHostId = (ctx.op.params as { destHostId?: unknown } | null)?.destHostId;
  const dest = typeof destHostId === "string" && destHostId !== ctx.vm.hostId ? await ctx.db.host.findUnique({ where: { id: destHostId } }) : null;
  // In a shared pool the destination's "copy" is the VM's own disk: nothing to remove.
  if (dest && !diskStays(ctx.host, dest)) {
    const destConn = ctx.connect(dest);
    if ((await stateOn(destConn, ctx.vm.domainName).catch(() => "unknown" as const)) === null) {
      await destConn.deleteVolume(dest.poolName, diskVolumeName(ctx.vm)).catch(() => undefined);
    }
  }
  await recordObservedState(ctx).catch(() => undefined);
}
