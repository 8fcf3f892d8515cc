/**
 * Operation handlers. Every step is idempotent (define with our UUID, start is a no-op when running,
 * destroy/undefine/delete are no-ops when absent), so an operation interrupted anywhere — a crashed
 * worker, a lost host — is simply run again from the top by the next claim.
 *
 * A handler either returns (the operation succeeded) or throws. `compensate` undoes a create that can
 * no longer succeed, leaving no domain, no disk and the quota returned.
 */
import type { OperationKind } from "../../domain/operation-kinds.ts";
import { notifyVmChanged } from "../../db/notify.ts";
import { releaseQuota } from "../../services/quota-service.ts";
import { releasePcpus } from "../../services/fleet-service.ts";
import { parseDomainXml } from "../../hypervisor/xml/index.ts";
import { diskVolumeName, domainXml, guestNetwork } from "../vm-layout.ts";
import { deleteSeed, ensureSeed } from "../cloud-init-seed.ts";
import { ensureDisk, ensureImage, ensureNetwork, ensurePool, recordObservedState, heavyCall, type Handler, type JobContext } from "./context.ts";
import { abandonMigration, migrate } from "./migrate.ts";
import { abandonHaRestart, haRestart } from "./ha-restart.ts";
import { abandonResize, resize } from "./resize.ts";
import { abandonSubmissionView, preserveSubmission, submissionDiscard, submissionView } from "./submissions.ts";

export type { Handler, JobContext, OperationRow } from "./context.ts";
/**
 * Domains defined before guests were kept off the host (QEMU user-mode networking, or a class
 * network without the host guard) are redefined with the current layout before they start, so the
 * guest boots behind the filters. A running domain's new definition applies from its next cold start.
 */
async function upgradeNetworking(ctx: JobContext): Promise<void> {
  const want = guestNetwork(ctx.vm);
  const have = parseDomainXml(await ctx.conn.domainXml(ctx.vm.domainName, { inactive: true })).interfaces;
  if (have.length === 1 && have[0]!.type === "network" && have[0]!.network === want.name && have[0]!.filter === want.filter) return;
  const diskPath = await ctx.conn.volumePath(ctx.host.poolName, diskVolumeName(ctx.vm));
  if (!diskPath) throw new Error(`disk ${diskVolumeName(ctx.vm)} is missing from pool "${ctx.host.poolName}"`);
  await ctx.step("moving the VM onto the guest network", 20);
  await ensureNetwork(ctx);
  await ctx.conn.defineDomain(domainXml(ctx.vm, ctx.host, ctx.image, diskPath));
}

const create: Handler = async (ctx) => {
  await ctx.step("preparing storage pool", 10);
  await ensurePool(ctx);
  await ensureNetwork(ctx);
  await ensureImage(ctx, { from: 12, to: 28 });
  await ctx.step("creating disk", 30);
  const diskPath = await ensureDisk(ctx);
  await ctx.step("writing the cloud-init seed", 50);
  await ensureSeed(ctx.conn, ctx.host, ctx.vm);
  await ctx.step("defining domain", 60);
  await ctx.conn.defineDomain(domainXml(ctx.vm, ctx.host, ctx.image, diskPath));
  await ctx.step("starting", 80);
  await heavyCall(ctx, ctx.host.id, () => ctx.conn.startDomain(ctx.vm.domainName));
  await recordObservedState(ctx);
};

const start: Handler = async (ctx) => {
  await upgradeNetworking(ctx);
  await ctx.step("starting", 50);
  await heavyCall(ctx, ctx.host.id, () => ctx.conn.startDomain(ctx.vm.domainName));
  await recordObservedState(ctx);
};

/** ACPI shutdown, waiting visibly up to the timeout; with force, powers off after it. */
const shutdown: Handler = async (ctx) => {
  const params = (ctx.op.params ?? {}) as { force?: boolean; timeoutS?: number };
  const timeoutS = params.timeoutS ?? ctx.defaultShutdownTimeoutS;
  await ctx.step("sending ACPI shutdown", 5);
  await ctx.conn.shutdownDomain(ctx.vm.domainName);
  const started = ctx.clock.now().getTime();
  let lastResend = started;
  for (;;) {
    const state = await ctx.conn.domainState(ctx.vm.domainName);
    if (state !== "running" && state !== "blocked" && state !== "shutdown" && state !== "paused") break;
    const elapsed = ctx.clock.now().getTime() - started;
    if (elapsed >= timeoutS * 1000) {
      if (!params.force) {
        await recordObservedState(ctx);
        throw new Error(`the guest did not shut down within ${timeoutS} s (retry with force to power it off)`);
      }
      await ctx.step(`no response after ${timeoutS} s: powering off`, 95);
      await ctx.conn.destroyDomain(ctx.vm.domainName);
      break;
    }
    // A guest that was still booting may have missed the first ACPI event.
    if (ctx.clock.now().getTime() - lastResend > 5_000) {
      lastResend = ctx.clock.now().getTime();
      await ctx.conn.shutdownDomain(ctx.vm.domainName).catch(() => undefined);
    }
    await ctx.step(`waiting for the guest to shut down (${Math.round(elapsed / 1000)} of ${timeoutS} s)`, 5 + Math.round((90 * elapsed) / (timeoutS * 1000)));
    await ctx.sleep(500);
  }
  await recordObservedState(ctx);
};

const poweroff: Handler = async (ctx) => {
  await ctx.step("powering off", 50);
  await ctx.conn.destroyDomain(ctx.vm.domainName);
  await recordObservedState(ctx);
};

const reboot: Handler = async (ctx) => {
  await ctx.step("rebooting", 50);
  await ctx.conn.rebootDomain(ctx.vm.domainName);
  await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { guestReadyAt: null } });
  await recordObservedState(ctx);
};

const pause: Handler = async (ctx) => {
  await ctx.step("pausing", 50);
  const state = await ctx.conn.domainState(ctx.vm.domainName);
  if (state !== "paused") await ctx.conn.suspendDomain(ctx.vm.domainName);
  await recordObservedState(ctx);
};

const resume: Handler = async (ctx) => {
  await ctx.step("resuming", 50);
  const state = await ctx.conn.domainState(ctx.vm.domainName);
  if (state === "paused") await ctx.conn.resumeDomain(ctx.vm.domainName);
  await recordObservedState(ctx);
};

/** Removes domain and disk, then the row and its quota in one transaction. */
async function removeEverything(ctx: JobContext, finalState: "deleted" | "error", message: string | null): Promise<void> {
  await ctx.step("powering off", 20);
  await ctx.conn.destroyDomain(ctx.vm.domainName);
  // The disk goes below, and an exam submission inside it with it: keep that first.
  await preserveSubmission(ctx);
  await ctx.step("removing domain", 50);
  await ctx.conn.undefineDomain(ctx.vm.domainName);
  await ctx.step("removing disk", 75);
  await ensurePool(ctx);
  await ctx.conn.deleteVolume(ctx.host.poolName, diskVolumeName(ctx.vm));
  await deleteSeed(ctx.conn, ctx.host, ctx.vm);
  await ctx.db.$transaction(async (tx) => {
    await releaseQuota(tx, ctx.vm.id);
    // Its dedicated pCPUs go back to the host with the quota.
    await releasePcpus(tx, ctx.vm.id);
    // Internal snapshots went with the disk; their rows go now (returning them to the snapshot quota).
    await tx.vmSnapshot.deleteMany({ where: { vmId: ctx.vm.id } });
    await tx.vm.update({
      where: { id: ctx.vm.id },
      data: {
        state: finalState,
        stateMessage: message,
        observedState: null,
        observedAt: ctx.clock.now(),
        guestReadyAt: null,
        ...(finalState === "deleted" ? { deletedAt: ctx.clock.now() } : {}),
      },
    });
    await notifyVmChanged(tx, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
  });
}

const remove: Handler = async (ctx) => removeEverything(ctx, "deleted", null);

function snapshotName(ctx: JobContext): string {
  const name = (ctx.op.params as { snapshot?: string } | null)?.snapshot;
  if (!name) throw new Error("no snapshot named in the operation");
  return name;
}

/**
 * Reset: throw the disk away and make a fresh linked clone of the template, keeping the VM's run
 * state (a running VM comes back running). Internal snapshots live in the old overlay and go with it.
 */
const reset: Handler = async (ctx) => {
  const wasRunning = (await ctx.conn.domainState(ctx.vm.domainName)) !== "shutoff";
  await ctx.step("powering off", 15);
  await ctx.conn.destroyDomain(ctx.vm.domainName);
  await ctx.step("recreating the disk from the template", 40);
  await ensurePool(ctx);
  await ensureImage(ctx, { from: 20, to: 38 });
  await preserveSubmission(ctx);
  await ctx.conn.deleteVolume(ctx.host.poolName, diskVolumeName(ctx.vm));
  const diskPath = await ensureDisk(ctx);
  await ensureNetwork(ctx);
  await ctx.conn.defineDomain(domainXml(ctx.vm, ctx.host, ctx.image, diskPath));
  if (wasRunning) {
    await ctx.step("starting", 80);
    await heavyCall(ctx, ctx.host.id, () => ctx.conn.startDomain(ctx.vm.domainName));
  }
  await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { guestReadyAt: null } });
  await recordObservedState(ctx);
};

/** A tenant snapshot's row (params.snapshotId), when the operation is about one; class checkpoints have none. */
function tenantSnapshot(ctx: JobContext): { id: string; memory: boolean } | null {
  const p = (ctx.op.params ?? {}) as { snapshotId?: string; memory?: boolean };
  return p.snapshotId ? { id: p.snapshotId, memory: p.memory !== false } : null;
}

const snapshot: Handler = async (ctx) => {
  await ctx.step("taking snapshot", 50);
  await heavyCall(ctx, ctx.host.id, () => ctx.conn.createSnapshot(ctx.vm.domainName, snapshotName(ctx)));
  const tenant = tenantSnapshot(ctx);
  if (tenant) await ctx.db.vmSnapshot.updateMany({ where: { id: tenant.id, state: "creating" }, data: { state: "ready" } });
  await recordObservedState(ctx);
};

/** Removes a tenant snapshot from the disk, then its row (which is what returns it to the quota). */
const snapshotDelete: Handler = async (ctx) => {
  await ctx.step("deleting snapshot", 50);
  await ctx.conn.deleteSnapshot(ctx.vm.domainName, snapshotName(ctx));
  const tenant = tenantSnapshot(ctx);
  if (tenant) await ctx.db.vmSnapshot.deleteMany({ where: { id: tenant.id } });
  await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
  await recordObservedState(ctx);
};

const revert: Handler = async (ctx) => {
  await ctx.step("reverting to snapshot", 50);
  await heavyCall(ctx, ctx.host.id, () => ctx.conn.revertSnapshot(ctx.vm.domainName, snapshotName(ctx)));
  // A snapshot taken without memory: its disk state only (libvirt 9 kept the memory of a running
  // guest anyway, see domain/snapshots.ts), so the VM is left shut off, to boot from that disk.
  if (tenantSnapshot(ctx)?.memory === false) {
    await ctx.step("powering off: the snapshot keeps no memory", 80);
    await ctx.conn.destroyDomain(ctx.vm.domainName);
  }
  // A snapshot taken before the guest networking change brings its old definition back with it.
  await upgradeNetworking(ctx);
  await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { guestReadyAt: null } });
  await recordObservedState(ctx);
};

/** Exam freeze: power the guest down (ACPI, then hard after a short wait) and keep a submission snapshot. */
const freeze: Handler = async (ctx) => {
  const state = await ctx.conn.domainState(ctx.vm.domainName);
  if (state === "running" || state === "blocked" || state === "paused") {
    await ctx.step("shutting down for the freeze", 20);
    if (state !== "paused") await ctx.conn.shutdownDomain(ctx.vm.domainName).catch(() => undefined);
    const deadline = ctx.clock.now().getTime() + 15_000;
    while (ctx.clock.now().getTime() < deadline && (await ctx.conn.domainState(ctx.vm.domainName)) === "running") await ctx.sleep(500);
    await ctx.conn.destroyDomain(ctx.vm.domainName);
  }
  await ctx.step("taking the submission snapshot", 70);
  await heavyCall(ctx, ctx.host.id, () => ctx.conn.createSnapshot(ctx.vm.domainName, snapshotName(ctx)));
  await recordObservedState(ctx);
};

export const HANDLERS: Record<OperationKind, Handler> = { create, start, shutdown, poweroff, reboot, pause, resume, delete: remove, reset, snapshot, "snapshot-delete": snapshotDelete, revert, freeze, migrate, "ha-restart": haRestart, resize, "submission-view": submissionView, "submission-discard": submissionDiscard };

/**
 * A tenant snapshot operation failed for good: the row follows what the disk holds, so the quota
 * counts only snapshots that exist. Unknown (host unreachable): keep the row as it is, shown.
 */
async function settleTenantSnapshot(ctx: JobContext): Promise<void> {
  const tenant = tenantSnapshot(ctx)!;
  const exists = await ctx.conn
    .listSnapshots(ctx.vm.domainName)
    .then((list) => list.some((s) => s.name === snapshotName(ctx)))
    .catch(() => null);
  if (exists === false) await ctx.db.vmSnapshot.deleteMany({ where: { id: tenant.id } });
  else if (exists === true) await ctx.db.vmSnapshot.updateMany({ where: { id: tenant.id }, data: { state: "ready" } });
  await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
}

/**
 * Runs after an operation has failed for good. A failed create must leave nothing behind: no domain,
 * no disk, quota returned; the VM stays visible in "error" with the reason until the user deletes it.
 * Other kinds only need the VM's state re-read.
 */
export async function compensate(ctx: JobContext, reason: string, fencing = false): Promise<void> {
  if (ctx.op.kind === "create") {
    try {
      await removeEverything(ctx, "error", `creation failed: ${reason}`);
    } catch (err) {
      // The host cannot be cleaned now (e.g. unreachable). Keep the quota held — a disk may exist —
      // and say so; deleting the VM retries the clean-up.
      const why = err instanceof Error ? err.message : String(err);
      await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { state: "error", stateMessage: `creation failed: ${reason}; clean-up pending: ${why}` } });
      await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
      throw err;
    }
  } else if (ctx.op.kind === "delete") {
    await ctx.db.vm.update({ where: { id: ctx.vm.id }, data: { state: "error", stateMessage: `deletion failed: ${reason}` } });
    await notifyVmChanged(ctx.db, { vmId: ctx.vm.id, ownerId: ctx.vm.ownerId });
  } else if (ctx.op.kind === "migrate") {
    await abandonMigration(ctx, reason);
  } else if (ctx.op.kind === "ha-restart") {
    await abandonHaRestart(ctx, reason, fencing);
  } else if (ctx.op.kind === "resize") {
    await abandonResize(ctx);
  } else if (ctx.op.kind === "submission-view") {
    await abandonSubmissionView(ctx, reason);
  } else if (ctx.op.kind === "submission-discard") {
    // The viewer stays "closing": the submissions sweep queues the discard again later.
  } else if ((ctx.op.kind === "snapshot" || ctx.op.kind === "snapshot-delete") && tenantSnapshot(ctx)) {
    await settleTenantSnapshot(ctx);
    await recordObservedState(ctx).catch(() => undefined);
  } else {
    await recordObservedState(ctx).catch(() => undefined);
  }
}
