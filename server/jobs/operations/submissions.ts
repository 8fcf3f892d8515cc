/**
 * Operation steps for exam submissions, run on the student's VM (its one-active-operation claim keeps
 * a reset or delete of that VM from running while its submission is being read):
 * - `submission-view` boots a viewer: a copy of the VM's submission under the viewer's own name, as a
 *   domain of the same size on the same class network; the student's domain is never touched.
 * - `submission-discard` removes the viewer's domain and disk (Close, or the expiry sweep).
 * - `preserveSubmission`, a step of reset and delete: before the disk (and its internal snapshot) is
 *   destroyed, the submission is copied to `submission-<vmId>.qcow2` in the pool and recorded.
 * Every step is idempotent: files are written atomically and checked first, libvirt removals are
 * no-ops when absent, row updates are conditional.
 */
import fs from "node:fs/promises";
import { isLocalHostUri } from "../../domain/host-uri.ts";
import { SUBMISSION_SNAPSHOT, submissionVolumeName, viewerVolumeName } from "../../domain/submissions.ts";
import { exists, extractSnapshot, overlayOn, poolFile, snapshotNames, submissionSource } from "../submission-files.ts";
import { diskVolumeName, domainXml } from "../vm-layout.ts";
import { ensureNetwork, ensurePool, heavyCall, type Handler, type JobContext } from "./context.ts";

function viewerIdOf(ctx: JobContext): string {
  const id = (ctx.op.params as { viewerId?: string } | null)?.viewerId;
  if (!id) throw new Error("no viewer named in the operation");
  return id;
}

async function loadViewer(ctx: JobContext) {
  return ctx.db.submissionViewer.findUniqueOrThrow({ where: { id: viewerIdOf(ctx) }, select: { id: true, domainName: true, state: true, hostId: true } });
}

/** Boots the viewer; a viewer closed before this ran is left to its discard. */
export const submissionView: Handler = async (ctx) => {
  const viewer = await loadViewer(ctx);
  if (viewer.state !== "creating") return;
  if (viewer.hostId !== ctx.host.id) throw new Error("the VM moved to another host since the viewer was asked for");
  if (!isLocalHostUri(ctx.host.uri)) throw new Error("submissions can be viewed only on hosts of the portal's own machine");
  await ctx.step("preparing the viewer's disk", 10);
  await ensurePool(ctx);
  await ensureNetwork(ctx);
  const disk = poolFile(ctx.host, viewerVolumeName(viewer.id));
  if (!(await exists(disk))) {
    const source = await submissionSource(ctx.db, ctx.vm, ctx.host);
    if (!source) throw new Error("this VM has no submission (it was not frozen, or its freeze failed)");
    await ctx.step("copying the submission", 20);
    // A preserved copy is a file of its own: an overlay on it is a linked clone. The disk's internal
    // snapshot is not: it is copied out (see submission-files.ts).
    if (source.kind === "preserved") await overlayOn(source.path, disk);
    else await extractSnapshot(source.path, SUBMISSION_SNAPSHOT, disk);
  }
  await ctx.step("defining the viewer", 60);
  const row = { ...ctx.vm, id: viewer.id, name: `submission of ${ctx.vm.name}`, domainName: viewer.domainName, cloudInit: null, maxVcpus: null, maxMemoryMiB: null };
  await ctx.conn.defineDomain(domainXml(row, ctx.host, null, disk));
  await ctx.step("starting the viewer", 80);
  await heavyCall(ctx, ctx.host.id, () => ctx.conn.startDomain(viewer.domainName));
  await ctx.db.submissionViewer.updateMany({ where: { id: viewer.id, state: "creating" }, data: { state: "running" } });
};

/** Removes the viewer's domain and disk. The student's VM is not touched. */
async function removeViewer(ctx: JobContext, viewer: { id: string; domainName: string }): Promise<void> {
  await ctx.step("powering the viewer off", 20);
  await ctx.conn.destroyDomain(viewer.domainName);
  await ctx.step("removing the viewer", 60);
  await ctx.conn.undefineDomain(viewer.domainName);
  const disk = poolFile(ctx.host, viewerVolumeName(viewer.id));
  await fs.rm(disk, { force: true });
  await fs.rm(`${disk}.part`, { force: true });
}

export const submissionDiscard: Handler = async (ctx) => {
  const viewer = await loadViewer(ctx);
  await removeViewer(ctx, viewer);
  await ctx.db.submissionViewer.updateMany({ where: { id: viewer.id, state: { not: "failed" } }, data: { state: "closed", closedAt: ctx.clock.now() } });
};

/** A viewer that could not be booted leaves nothing behind and says why. */
export async function abandonSubmissionView(ctx: JobContext, reason: string): Promise<void> {
  const viewer = await loadViewer(ctx);
  await removeViewer(ctx, viewer);
  await ctx.db.submissionViewer.update({ where: { id: viewer.id }, data: { state: "failed", error: reason, closedAt: ctx.clock.now() } });
}

/**
 * Before a reset or delete destroys a class VM's disk: when its class took a submission and the disk
 * holds it, copy it to `submission-<vmId>.qcow2` in the pool (written whole, then renamed) and record
 * it (VmSubmission), once. A VM without a submission (added after the freeze) has nothing to keep.
 * On another host the snapshot cannot be copied out by this machine: the step fails rather than let
 * the submission vanish.
 */
export async function preserveSubmission(ctx: JobContext): Promise<void> {
  const vm = await ctx.db.vm.findUnique({ where: { id: ctx.vm.id }, select: { classId: true } });
  if (!vm?.classId) return;
  const taken = await ctx.db.classCheckpoint.findFirst({ where: { classId: vm.classId, kind: "submission" }, select: { snapshot: true } });
  if (!taken) return;
  if (await ctx.db.vmSubmission.findUnique({ where: { vmId: ctx.vm.id }, select: { vmId: true } })) return;
  if (!isLocalHostUri(ctx.host.uri)) {
    const onDisk = await ctx.conn.listSnapshots(ctx.vm.domainName).then((l) => l.some((s) => s.name === taken.snapshot), () => false);
    if (onDisk) throw new Error("this VM's disk holds its exam submission, which vmdesk can keep only on hosts of the portal's own machine: export it first");
    return;
  }
  const kept = poolFile(ctx.host, submissionVolumeName(ctx.vm.id));
  if (!(await exists(kept))) {
    const disk = poolFile(ctx.host, diskVolumeName(ctx.vm));
    if (!(await exists(disk))) return;
    if (!(await snapshotNames(disk)).includes(taken.snapshot)) return;
    await ctx.step("keeping the exam submission", 12);
    await extractSnapshot(disk, taken.snapshot, kept);
  }
  await ctx.db.vmSubmission.upsert({ where: { vmId: ctx.vm.id }, create: { vmId: ctx.vm.id, classId: vm.classId, hostId: ctx.host.id, path: kept }, update: {} });
}
