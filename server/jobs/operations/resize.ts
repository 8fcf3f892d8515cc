/**
 * The `resize` operation: the VM's row already has the new size (and the quota holds it, see
 * services/resize-service.ts); this makes the host match. Running: vCPUs and memory live (and in the
 * definition), then the disk through QEMU, which tells the guest. Stopped: the definition is rewritten
 * from the row, and the volume grown. Every step is idempotent (setting a value it already has,
 * growing to the size it already has). The disk goes last: it is the one change that cannot be undone.
 */
import type { ResourceAmounts } from "../../domain/quota.ts";
import type { Size } from "../../domain/resize.ts";
import { notifyVmChanged } from "../../db/notify.ts";
import { returnResizeReservation } from "../../services/quota-service.ts";
import { releasePcpus } from "../../services/fleet-service.ts";
import { diskVolumeName, domainXml, GiB } from "../vm-layout.ts";
import { ensurePool, recordObservedState, type Handler, type JobContext } from "./context.ts";

interface ResizeParams {
  from: Size;
  to: Size;
  delta: ResourceAmounts;
  /** A change of flavor: the flavors, the pCPUs held before, and whether the tuning differs (the definition is rewritten even at the same size). */
  fromFlavorId?: string | null;
  toFlavorId?: string | null;
  fromPcpus?: number[];
  redefine?: boolean;
}

function params(ctx: JobContext): ResizeParams {
  const p = (ctx.op.params ?? {}) as Partial<ResizeParams>;
  if (!p.from || !p.to || !p.delta) throw new Error("resize operation without from/to/delta");
  return p as ResizeParams;
}

async function isRunning(ctx: JobContext): Promise<boolean> {
  const state = await ctx.conn.domainState(ctx.vm.domainName);
  return state === "running" || state === "blocked" || state === "paused";
}

/** vCPUs and memory to `size`: live and in the definition while it runs, the definition otherwise. */
async function applyCpuAndMemory(ctx: JobContext, size: Size, from: Size, running: boolean, redefine = false): Promise<void> {
  if (size.vcpus === from.vcpus && size.memoryMiB === from.memoryMiB && !(redefine && !running)) return;
  if (running) {
    if (size.vcpus !== from.vcpus) await ctx.conn.setDomainResources(ctx.vm.domainName, "vcpus", size.vcpus, true);
    if (size.memoryMiB !== from.memoryMiB) await ctx.conn.setDomainResources(ctx.vm.domainName, "memoryMiB", size.memoryMiB, true);
    return;
  }
  const diskPath = await ctx.conn.volumePath(ctx.host.poolName, diskVolumeName(ctx.vm));
  if (!diskPath) throw new Error(`disk ${diskVolumeName(ctx.vm)} is missing from pool "${ctx.host.poolName}"`);
  await ctx.conn.defineDomain(domainXml({ ...ctx.vm, ...size }, ctx.host, ctx.image, diskPath));
}

export const resize: Handler = async (ctx) => {
  const { from, to, redefine } = params(ctx);
  const running = await isRunning(ctx);
  await ctx.step(running ? "changing vCPUs and memory live" : "rewriting the definition", 30);
  await applyCpuAndMemory(ctx, to, from, running, redefine);
  if (to.diskGiB > from.diskGiB) {
    await ctx.step("growing the disk", 60);
    if (running) {
      await ctx.conn.growLiveDisk(ctx.vm.domainName, to.diskGiB * GiB);
    } else {
      await ensurePool(ctx);
      await ctx.conn.growVolume(ctx.host.poolName, diskVolumeName(ctx.vm), to.diskGiB * GiB);
    }
  }
  await recordObservedState(ctx);
};

/**
 * The resize failed for good: put vCPUs and memory back where the host allows it (best effort: the
 * host may be unreachable), the row to the old size and the reservation back to the owner. The disk
 * is grown last, so a failure leaves it as it was.
 */
export async function abandonResize(ctx: JobContext): Promise<void> {
  const { from, to, delta, fromFlavorId, fromPcpus } = params(ctx);
  const running = await isRunning(ctx).catch(() => null);
  if (running !== null) await applyCpuAndMemory(ctx, from, to, running).catch(() => undefined);
  await ctx.db.$transaction(async (tx) => {
    await tx.vm.update({ where: { id: ctx.vm.id }, data: { ...from, ...(fromFlavorId !== undefined ? { flavorId: fromFlavorId } : {}) } });
    if (fromPcpus !== undefined) {
      // Its old pCPUs back where nobody took them meanwhile (the reconciler frees what no longer fits).
      await releasePcpus(tx, ctx.vm.id);
      await tx.cpuAllocation.createMany({ data: fromPcpus.map((pcpu) => ({ hostId: ctx.vm.hostId, pcpu, vmId: ctx.vm.id })), skipDuplicates: true });
    }
    await returnResizeReservation(tx, ctx.vm.ownerId, delta);
    await notifyVmChanged(tx, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
  });
  await recordObservedState(ctx).catch(() => undefined);
}
