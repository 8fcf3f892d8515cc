/**
 * What an operation handler gets (the VM, its host and connection, progress reporting) and the
 * idempotent steps more than one handler takes: ensure the pool, the networks and the disk exist on
 * a host, record what libvirt says.
 */
import type { HostConnection } from "../../hypervisor/driver.ts";
import { HypervisorError, VIR_ERR } from "../../hypervisor/driver.ts";
import { stateFromObserved } from "../../domain/vm-state.ts";
import type { Db } from "../../db/client.ts";
import { notifyVmChanged } from "../../db/notify.ts";
import type { Clock } from "../clock.ts";
import { ensureGuestNetworking } from "../../hypervisor/guest-network.ts";
import { buildIsolatedNetworkXml } from "../../hypervisor/xml/index.ts";
import { hostAddresses } from "../host-addresses.ts";
import { diskVolumeName, diskVolumeXml, type HostRow, type ImageRow, type VmRow } from "../vm-layout.ts";
import { hostPreparations } from "../host-preparation.ts";
import { heavyCallSlots } from "../start-slots.ts";
import { ensureImageOnHost, imageIsLocalTo, type ImageSource } from "../image-copy.ts";

export interface OperationRow {
  id: string;
  kind: string;
  vmId: string | null;
  params: unknown;
  attempts: number;
  /** Who asked (null: the portal itself: HA, leases, the reconciler); the fairness group of its calls. */
  requestedById: string | null;
}

/**
 * A heavy call (a guest start, a snapshot, a revert) on `hostId` through the host's heavy-call slots,
 * in the turn of whoever asked for the operation (see HostSlots: the portal's own operations share one).
 */
export function heavyCall<T>(ctx: JobContext, hostId: string, fn: () => Promise<T>): Promise<T> {
  return heavyCallSlots.run(hostId, fn, ctx.op.requestedById ?? "portal");
}

export interface JobContext {
  db: Db;
  op: OperationRow;
  vm: VmRow & { hostId: string; imageId: string | null };
  host: HostRow;
  /** The VM's image as its host reads it: its own file, or the copy in that host's pool (see image-copy). */
  image: ImageRow | null;
  /** The image as registered (its own host and file), for copying it where it is missing. */
  imageSource: ImageSource | null;
  conn: HostConnection;
  /** The connection to another host (a migration's destination), from the same pool. */
  connect(host: HostRow): HostConnection;
  clock: Clock;
  /** Records progress (and doubles as a heartbeat). */
  step(name: string, progress: number): Promise<void>;
  sleep(ms: number): Promise<void>;
  defaultShutdownTimeoutS: number;
}

export type Handler = (ctx: JobContext) => Promise<void>;

/** Records what libvirt says now as the VM's observed and derived state. */
export async function recordObservedState(ctx: JobContext): Promise<void> {
  const observed = await ctx.conn.domainState(ctx.vm.domainName);
  await ctx.db.vm.update({
    where: { id: ctx.vm.id },
    data: {
      observedState: observed,
      observedAt: ctx.clock.now(),
      state: stateFromObserved(observed),
      stateMessage: null,
      ...(observed === "running" ? {} : { guestReadyAt: null }),
    },
  });
  await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
}

export async function ensureDisk(ctx: JobContext): Promise<string> {
  const pool = ctx.host.poolName;
  const existing = await ctx.conn.volumePath(pool, diskVolumeName(ctx.vm));
  if (existing) return existing;
  try {
    return await ctx.conn.createVolume(pool, diskVolumeXml(ctx.vm, ctx.image));
  } catch (err) {
    // Another attempt created it between our check and our create.
    if (err instanceof HypervisorError && err.code === VIR_ERR.STORAGE_VOL_EXIST) {
      const path = await ctx.conn.volumePath(pool, diskVolumeName(ctx.vm));
      if (path) return path;
    }
    throw err;
  }
}

/** Makes sure the host's pool exists where the host row says; a same-named pool elsewhere is a misconfiguration. */
export async function ensurePool(ctx: JobContext): Promise<void> {
  const { poolName, poolPath } = ctx.host;
  const pool = await hostPreparations.ensure(ctx.conn, `pool ${poolName} ${poolPath}`, () => ctx.conn.ensureDirPool(poolName, poolPath));
  if (pool.path !== ctx.host.poolPath) {
    throw new Error(`storage pool "${ctx.host.poolName}" on this host is at ${pool.path}, not ${ctx.host.poolPath}: change the host's pool path or name`);
  }
}

/**
 * The networks and filters a VM's interface references must exist on the host before it is defined:
 * the host's guest networking (NAT network, host guard with the host's current addresses, personal
 * filter) and, for a class VM, the class's isolated network.
 */
export async function ensureNetwork(ctx: JobContext): Promise<void> {
  const addresses = await hostAddresses(ctx.host.uri);
  // Keyed by the addresses: a host that gained one has its guard filter updated at the next create.
  await hostPreparations.ensure(ctx.conn, `guest networking ${[...addresses].sort().join(",")}`, () => ensureGuestNetworking(ctx.conn, addresses));
  const network = ctx.vm.networkName;
  if (network) await hostPreparations.ensure(ctx.conn, `network ${network}`, () => ctx.conn.ensureNetwork(network, buildIsolatedNetworkXml({ name: network })));
}


/**
 * The image as `hostId` reads it without copying: its own file when local or shared, the copy in
 * that host's pool when one is ready, else its own path (not there yet: ensureImage copies it).
 */
export async function imageOnHost(db: Db, image: ImageSource, hostId: string): Promise<ImageRow> {
  if (imageIsLocalTo(image, hostId)) return { path: image.path, format: image.format };
  const replica = await db.imageReplica.findUnique({ where: { imageId_hostId: { imageId: image.id, hostId } }, select: { state: true, path: true } });
  return { path: replica?.state === "ready" && replica.path ? replica.path : image.path, format: image.format };
}

/** Puts the VM's image on ctx.host (a verified copy, made once) and points ctx.image at it. */
export async function ensureImage(ctx: JobContext, progress: { from: number; to: number }): Promise<void> {
  if (!ctx.imageSource) return;
  ctx.image = await ensureImageOnHost(
    {
      db: ctx.db,
      operationId: ctx.op.id,
      host: ctx.host,
      conn: ctx.conn,
      connect: ctx.connect,
      step: ctx.step,
      sleep: ctx.sleep,
      now: () => ctx.clock.now(),
    },
    ctx.imageSource,
    progress,
  );
}
