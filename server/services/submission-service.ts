/**
 * Exam submissions for a class's teachers (policy `submission.view`): open a student's submission in
 * a viewer (a throwaway domain booted from a copy of it) with a view-only console, close it, and
 * export every student's submitted disk as one tar download.
 *
 * The services record rows and operations only; the worker side makes and removes viewers
 * (jobs/operations/submissions.ts) and writes export files (jobs/submissions.ts) into the portal's
 * data directory, from which the download streams them. Submissions are read by qemu-img on this
 * machine, so VMs on other hosts are refused with 409.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { config } from "../config.ts";
import { mintTicket, ticketProtocols, type ConsoleKind } from "../console/tickets.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { AppError } from "../domain/errors.ts";
import { isLocalHostUri } from "../domain/host-uri.ts";
import { authorize, submissionViewerTarget } from "../domain/policy.ts";
import { EXPORT_TTL_MS, OPEN_VIEWER_STATES, VIEWER_TTL_MS, viewerDomainName } from "../domain/submissions.ts";
import { auditAs } from "./audit-service.ts";
import { loadClass } from "./class-access.ts";
import { consoleUrl } from "./console-service.ts";
import type { ServiceContext } from "./context.ts";
import type { Db } from "../db/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { tarSize, tarStream, type TarMember } from "./tar.ts";

/** Where an export's files are written (by the jobs side) and read (by the download): inside the data directory. */
export function exportDir(dataDir: string, exportId: string): string {
  return path.join(dataDir, "submission-exports", exportId);
}

/**
 * Queues the discard of a viewer on its student's VM. False when that VM is busy with another
 * operation: the submissions sweep queues it later.
 */
export async function queueViewerDiscard(db: Db, viewer: { id: string; vmId: string }, requestedById: string | null): Promise<boolean> {
  try {
    await db.$transaction(async (tx) => {
      const vm = await tx.vm.findUniqueOrThrow({ where: { id: viewer.vmId }, select: { hostId: true, ownerId: true } });
      await enqueueVmOperation(tx, { vmId: viewer.vmId, hostId: vm.hostId, kind: "submission-discard", params: { viewerId: viewer.id }, requestedById });
      await notifyVmChanged(tx, { vmId: viewer.vmId, ownerId: vm.ownerId });
    });
    return true;
  } catch (err) {
    if (err instanceof AppError && err.code === "CONFLICT") return false;
    throw err;
  }
}

const viewerSelect = { id: true, classId: true, vmId: true, openedById: true, state: true, error: true, expiresAt: true, createdAt: true, closedAt: true } as const;

async function requireSubmission(ctx: ServiceContext, classId: string): Promise<void> {
  const taken = await ctx.db.classCheckpoint.findFirst({ where: { classId, kind: "submission" }, select: { id: true } });
  if (!taken) throw new AppError("WRONG_STATE", "this class has no submissions: freeze it first");
}

/** A teacher's viewer, found through its class (another teacher's is not found). */
async function loadViewer(ctx: ServiceContext, viewerId: string) {
  const viewer = await ctx.db.submissionViewer.findUnique({ where: { id: viewerId }, select: viewerSelect });
  if (!viewer) throw new AppError("NOT_FOUND", "viewer not found");
  await loadClass(ctx, viewer.classId, "submission.view").catch((err: unknown) => {
    throw err instanceof AppError && err.code === "NOT_FOUND" ? new AppError("NOT_FOUND", "viewer not found") : err;
  });
  return viewer;
}

/**
 * Opens (or returns the already open) viewer of one student VM's submission, queued as a
 * `submission-view` operation on that VM: 409 while the VM is busy with another operation, or when it
 * is on another host; 412 when the class has no submission.
 */
export async function openSubmissionViewer(ctx: ServiceContext, classId: string, vmId: string, now = new Date()) {
  await loadClass(ctx, classId, "submission.view");
  await requireSubmission(ctx, classId);
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, classId }, select: { id: true, ownerId: true, hostId: true, deletedAt: true, host: { select: { uri: true } } } });
  const kept = vm?.deletedAt ? await ctx.db.vmSubmission.findUnique({ where: { vmId }, select: { hostId: true } }) : null;
  if (!vm || (vm.deletedAt && !kept)) throw new AppError("NOT_FOUND", "VM not found in this class");
  if (!isLocalHostUri(vm.host.uri)) throw new AppError("CONFLICT", "submissions of VMs on other hosts cannot be viewed yet (only hosts of the portal's own machine)");
  const open = await ctx.db.submissionViewer.findFirst({ where: { vmId, openedById: ctx.actor.id, state: { in: [...OPEN_VIEWER_STATES] } }, select: viewerSelect });
  if (open) return { ...open, operationId: null };
  const id = randomUUID();
  const result = await ctx.db.$transaction(async (tx) => {
    const viewer = await tx.submissionViewer.create({
      data: { id, classId, vmId, hostId: vm.hostId, openedById: ctx.actor.id, domainName: viewerDomainName(id), expiresAt: new Date(now.getTime() + VIEWER_TTL_MS) },
      select: viewerSelect,
    });
    const op = await enqueueVmOperation(tx, { vmId, hostId: vm.hostId, kind: "submission-view", params: { viewerId: id }, requestedById: ctx.actor.id });
    await notifyVmChanged(tx, { vmId, ownerId: vm.ownerId });
    return { ...viewer, operationId: op.id };
  });
  await auditAs(ctx, { action: "submission.view", targetType: "vm", targetId: vmId, result: "ok", detail: { classId, viewerId: id } });
  return result;
}

export async function getSubmissionViewer(ctx: ServiceContext, viewerId: string) {
  return loadViewer(ctx, viewerId);
}

/** The class's viewers that are open or closing (for the class page). */
export async function listSubmissionViewers(ctx: ServiceContext, classId: string) {
  await loadClass(ctx, classId, "submission.view");
  return ctx.db.submissionViewer.findMany({ where: { classId, state: { in: [...OPEN_VIEWER_STATES, "closing"] } }, orderBy: { createdAt: "asc" }, select: viewerSelect });
}

/** Close: the viewer is marked closing at once (its console ends) and its discard queued (or left to the sweep while the VM is busy). */
export async function closeSubmissionViewer(ctx: ServiceContext, viewerId: string) {
  const viewer = await loadViewer(ctx, viewerId);
  if (!OPEN_VIEWER_STATES.includes(viewer.state as never)) return viewer;
  await ctx.db.submissionViewer.updateMany({ where: { id: viewerId, state: { in: [...OPEN_VIEWER_STATES] } }, data: { state: "closing" } });
  await queueViewerDiscard(ctx.db, viewer, ctx.actor.id);
  await auditAs(ctx, { action: "submission.close", targetType: "vm", targetId: viewer.vmId, result: "ok", detail: { viewerId } });
  return loadViewer(ctx, viewerId);
}

/** A view-only console ticket for a running viewer (VNC or serial); the proxy re-checks `submission.view`. */
export async function openViewerConsole(ctx: ServiceContext, viewerId: string, kind: ConsoleKind, opts: { portalOrigin: string; now?: Date }) {
  const viewer = await ctx.db.submissionViewer.findUnique({ where: { id: viewerId }, select: viewerSelect });
  const teachers = viewer ? await ctx.db.classTeacher.findMany({ where: { classId: viewer.classId }, select: { userId: true } }) : [];
  if (!viewer) throw new AppError("NOT_FOUND", "viewer not found");
  authorize(ctx.actor, "submission.view", submissionViewerTarget(teachers.map((t) => t.userId)));
  if (viewer.state !== "running") throw new AppError("WRONG_STATE", `the viewer is ${viewer.state}`, { state: viewer.state });
  const minted = await mintTicket(ctx.db, { userId: ctx.actor.id, vmId: viewer.vmId, viewerId, mode: "view", kind, now: opts.now ?? new Date(), ttlS: config().VMDESK_CONSOLE_TICKET_TTL_S });
  await auditAs(ctx, { action: "console.open", targetType: "vm", targetId: viewer.vmId, result: "ok", detail: { viewerId, mode: "view", kind, ticketId: minted.id, expiresAt: minted.expiresAt.toISOString() } });
  return { url: consoleUrl(opts.portalOrigin, kind), protocols: ticketProtocols(minted.ticket), expiresAt: minted.expiresAt, mode: "view" as const, kind };
}

const exportSelect = { id: true, classId: true, state: true, error: true, files: true, skipped: true, createdAt: true, readyAt: true, expiresAt: true } as const;

function shapeExport(e: { id: string; classId: string; state: string; error: string | null; files: unknown; skipped: unknown; createdAt: Date; readyAt: Date | null; expiresAt: Date }) {
  return {
    ...e,
    files: e.files as Array<{ username: string; file: string; bytes: number }>,
    skipped: e.skipped as Array<{ username: string; reason: string }>,
    downloadUrl: e.state === "ready" ? `/api/v1/classes/${e.classId}/submissions/exports/${e.id}/download` : null,
  };
}

/**
 * Asks the worker side for an export of every student's submission. One export per class at a time:
 * one being prepared is returned as it is, and so is a ready one that still holds every submission
 * as it is now; otherwise the finished one is replaced (its files go at the next sweep).
 */
export async function requestSubmissionExport(ctx: ServiceContext, classId: string, now = new Date()) {
  await loadClass(ctx, classId, "submission.view");
  await requireSubmission(ctx, classId);
  const hosts = await ctx.db.host.findMany({ where: { vms: { some: { classId, deletedAt: null } } }, select: { uri: true } });
  if (hosts.some((h) => !isLocalHostUri(h.uri))) throw new AppError("CONFLICT", "this class has VMs on other hosts, whose submissions cannot be exported yet (only hosts of the portal's own machine)");
  // Check and create under a per-class lock: racing requests (a double click, a script) get the one
  // export being prepared instead of each starting a copy of every student's disk.
  const { row, created } = await ctx.db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`vmdesk.submission-export:${classId}`}))`;
    const pending = await tx.submissionExport.findFirst({ where: { classId, state: "preparing" }, select: exportSelect });
    if (pending) return { row: pending, created: false };
    // Each new export copies every student's disk: asking again in a loop must not, while nothing changed.
    const ready = await tx.submissionExport.findFirst({ where: { classId, state: "ready", expiresAt: { gt: now } }, orderBy: { createdAt: "desc" }, select: exportSelect });
    if (ready && (await exportIsCurrent(tx, classId, ready))) return { row: ready, created: false };
    await tx.submissionExport.updateMany({ where: { classId, state: { in: ["ready", "failed"] } }, data: { state: "expired" } });
    return { row: await tx.submissionExport.create({ data: { classId, requestedById: ctx.actor.id, expiresAt: new Date(now.getTime() + EXPORT_TTL_MS) }, select: exportSelect }), created: true };
  });
  if (created) await auditAs(ctx, { action: "submission.export", targetType: "class", targetId: classId, result: "ok", detail: { exportId: row.id } });
  return shapeExport(row);
}

/**
 * A ready export still holds every submission as it is: none was skipped (a VM not frozen yet), the
 * class was not frozen again after it (a new `submission` snapshot), and no submission was moved out
 * of a disk since (a reset or delete after the freeze).
 */
async function exportIsCurrent(tx: Prisma.TransactionClient, classId: string, e: { createdAt: Date; skipped: Prisma.JsonValue }): Promise<boolean> {
  if (!Array.isArray(e.skipped) || e.skipped.length > 0) return false;
  const cls = await tx.class.findUnique({ where: { id: classId }, select: { frozenAt: true } });
  if (cls?.frozenAt && cls.frozenAt > e.createdAt) return false;
  return (await tx.vmSubmission.count({ where: { classId, createdAt: { gt: e.createdAt } } })) === 0;
}

export async function getSubmissionExport(ctx: ServiceContext, classId: string, exportId: string) {
  await loadClass(ctx, classId, "submission.view");
  const e = await ctx.db.submissionExport.findFirst({ where: { id: exportId, classId }, select: exportSelect });
  if (!e) throw new AppError("NOT_FOUND", "export not found");
  return shapeExport(e);
}

/**
 * The ready export as a tar stream of its files (read from the data directory as they are sent), with
 * its exact length. 412 while it is being prepared, 404 once expired.
 */
export async function downloadSubmissionExport(ctx: ServiceContext, classId: string, exportId: string): Promise<{ filename: string; size: number; stream: () => Readable }> {
  const c = await loadClass(ctx, classId, "submission.view");
  const e = await ctx.db.submissionExport.findFirst({ where: { id: exportId, classId }, select: exportSelect });
  if (!e || e.state === "expired") throw new AppError("NOT_FOUND", "export not found");
  if (e.state !== "ready") throw new AppError("WRONG_STATE", e.state === "failed" ? `the export failed: ${e.error}` : "the export is still being prepared", { state: e.state });
  const dir = exportDir(config().dataDir, e.id);
  const members: TarMember[] = [];
  for (const f of shapeExport(e).files) {
    const file = path.join(dir, path.basename(f.file));
    const st = await fs.stat(file).catch(() => null);
    if (!st) throw new AppError("NOT_FOUND", "the export's files are gone: export again");
    members.push({ name: `submissions/${path.basename(f.file)}`, path: file, size: st.size, mtime: st.mtime });
  }
  await auditAs(ctx, { action: "submission.download", targetType: "class", targetId: classId, result: "ok", detail: { exportId, files: members.length } });
  const slug = c.name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "class";
  return { filename: `${slug}-submissions.tar`, size: tarSize(members), stream: () => tarStream(members) };
}
