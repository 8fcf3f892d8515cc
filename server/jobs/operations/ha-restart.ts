/**
 * HA restart (operation kind "ha-restart", params `{ destHostId }`): a VM whose host went down is
 * started on the destination placement chose, from its own disk on the storage both hosts share.
 * The HA manager (jobs/ha.ts) queues it; the dead host is never called.
 *
 * Never twice: the hosts lease every writable disk (libvirt's lockd, in a lockspace on the shared
 * storage). If the old host's guest still runs (only its daemon died, or the network split), its
 * lease is held and the start here is refused: the definition made here is removed again and the VM
 * is marked "fencing required" (an alert), to be retried later, when the old host is powered off and
 * its lease gone, or reconciled when its daemon comes back and reports the guest running.
 *
 * Resumable like every handler: a retry first asks whether the guest already runs on the destination
 * (the start succeeded before the worker died) and then only records it.
 */
import { config } from "../../config.ts";
import { audit } from "../../services/audit-service.ts";
import { fencingMessage } from "../../domain/ha.ts";
import { HypervisorError, VIR_ERR } from "../../hypervisor/driver.ts";
import { notifyVmChanged } from "../../db/notify.ts";
import { diskVolumeName, domainXml } from "../vm-layout.ts";
import { ensureNetwork, ensurePool, imageOnHost, heavyCall, type Handler, type JobContext } from "./context.ts";
import { diskStays, land, live, migrationDestination, stateOn } from "./migrate.ts";

const SYSTEM = { actorId: null, actorName: "ha", ip: null };

/** The start was refused because another host holds the disk's lease (lockd, virtlockd). */
export function isLeaseRefusal(err: unknown): boolean {
  if (!(err instanceof HypervisorError) || err.kind !== "libvirt") return false;
  return err.code === VIR_ERR.RESOURCE_BUSY || /lock|lease/i.test(err.message);
}

/** Thrown (a definite failure, never retried by the worker) when the disk lease refused the start. */
export class FencingRequired extends Error {}

export const haRestart: Handler = async (ctx) => {
  const dest = await ctx.db.host.findUniqueOrThrow({ where: { id: migrationDestination(ctx) } });
  const destConn = ctx.connect(dest);
  const there: JobContext = { ...ctx, host: dest, conn: destConn };
  const domain = ctx.vm.domainName;

  if (ctx.vm.hostId === dest.id || live(await stateOn(destConn, domain))) {
    await ctx.step(`already running on ${dest.name}: recording it`, 95);
    await land(ctx, there);
    return;
  }
  if (!diskStays(ctx.host, dest)) throw new Error(`host ${dest.name} does not share ${ctx.host.poolName} with the VM's host: its disk cannot be reached there`);

  await ctx.step(`preparing ${dest.name}`, 10);
  await ensurePool(there);
  await ensureNetwork(there);
  // The pool is listed again: the VM's disk was made by the other host, in the same directory.
  await destConn.ensureDirPool(dest.poolName, dest.poolPath);
  const diskPath = await destConn.volumePath(dest.poolName, diskVolumeName(ctx.vm));
  if (!diskPath) throw new Error(`the VM's disk ${diskVolumeName(ctx.vm)} is not in the shared pool ${dest.poolName} on ${dest.name}`);
  const image = ctx.imageSource ? await imageOnHost(ctx.db, ctx.imageSource, dest.id) : null;

  await ctx.step(`defining on ${dest.name}`, 40);
  // Pinned pCPUs and PCI devices were the dead host's: the restarted VM runs without them (the
  // reconciler frees the old allocation) rather than not at all.
  const tuning = ctx.vm.tuning ? { ...ctx.vm.tuning, pcpus: [], hostDevices: [] } : null;
  await destConn.defineDomain(domainXml({ ...ctx.vm, tuning }, dest, image, diskPath));
  await ctx.step(`starting on ${dest.name}`, 60);
  try {
    await heavyCall(ctx, dest.id, () => destConn.startDomain(domain));
  } catch (err) {
    if (!isLeaseRefusal(err)) throw err;
    // Nothing of this attempt stays on the destination: only the definition was made here.
    if ((await stateOn(destConn, domain)) !== null) await destConn.undefineDomain(domain);
    throw new FencingRequired(`${fencingMessage(ctx.host.name ?? ctx.host.id, dest.name, config().VMDESK_HA_RETRY_S)} (${dest.name} said: ${(err as Error).message})`);
  }
  await ctx.step(`recording ${dest.name}`, 95);
  await land(ctx, there);
  await audit(ctx.db, SYSTEM, { action: "vm.ha_restart", targetType: "vm", targetId: ctx.vm.id, result: "ok", detail: { from: (ctx.host.name ?? ctx.host.id), to: dest.name } });
};

/**
 * After an HA restart failed for good: the capacity held on the destination is released, and the VM
 * keeps its unknown state with the reason (fencing required, or what failed), retried by the HA
 * manager after HA_RETRY_MS. A definition left on the destination (a start that failed otherwise) is
 * removed unless the guest runs there after all (then the next attempt records it).
 */
export async function abandonHaRestart(ctx: JobContext, reason: string, fencing: boolean): Promise<void> {
  const destHostId = (ctx.op.params as { destHostId?: unknown } | null)?.destHostId;
  const dest = typeof destHostId === "string" && destHostId !== ctx.vm.hostId ? await ctx.db.host.findUnique({ where: { id: destHostId } }) : null;
  if (dest && !fencing) {
    const destConn = ctx.connect(dest);
    const state = await stateOn(destConn, ctx.vm.domainName).catch(() => "unknown" as const);
    if (state !== null && state !== "unknown" && !live(state)) await destConn.undefineDomain(ctx.vm.domainName).catch(() => undefined);
  }
  await ctx.db.vm.updateMany({
    where: { id: ctx.vm.id, hostId: ctx.vm.hostId },
    data: { targetHostId: null, haError: reason, haFencingRequired: fencing, stateMessage: fencing ? reason : `HA restart failed: ${reason}` },
  });
  await audit(ctx.db, SYSTEM, { action: fencing ? "vm.ha_fencing_required" : "vm.ha_restart", targetType: "vm", targetId: ctx.vm.id, result: "error", detail: { from: (ctx.host.name ?? ctx.host.id), to: dest?.name ?? null, reason } });
  await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
}
