/**
 * The submissions sweep (leader only, on a short timer, with an injected clock):
 * - viewers past their expiry are closed and their discard queued; a closing viewer whose discard is
 *   not queued (its VM was busy, the portal restarted, the discard failed) gets it queued again;
 * - exports being prepared are written, one student's disk at a time, under
 *   `<data dir>/submission-exports/<export id>/` (a restart starts an unfinished export over);
 * - files of exports past their expiry are deleted.
 * State lives in the rows (SubmissionViewer, SubmissionExport), so nothing is lost with a process.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Db } from "../db/client.ts";
import { isLocalHostUri } from "../domain/host-uri.ts";
import { DISCARD_RETRY_MS, exportFileName, OPEN_VIEWER_STATES } from "../domain/submissions.ts";
import { log } from "../log.ts";
import { exportDir, queueViewerDiscard } from "../services/submission-service.ts";
import type { Clock } from "./clock.ts";
import { copySubmission, submissionSource } from "./submission-files.ts";

/** Closes expired viewers and (re)queues every pending discard. Returns the discards queued. */
export async function sweepViewers(db: Db, clock: Clock): Promise<number> {
  const now = clock.now();
  await db.submissionViewer.updateMany({ where: { state: { in: [...OPEN_VIEWER_STATES] }, expiresAt: { lte: now } }, data: { state: "closing" } });
  const closing = await db.submissionViewer.findMany({ where: { state: "closing" }, select: { id: true, vmId: true }, take: 200 });
  let queued = 0;
  for (const v of closing) {
    const recent = await db.operation.findFirst({
      where: {
        kind: "submission-discard",
        vmId: v.vmId,
        params: { path: ["viewerId"], equals: v.id },
        OR: [{ status: { in: ["queued", "running"] } }, { finishedAt: { gt: new Date(now.getTime() - DISCARD_RETRY_MS) } }],
      },
      select: { id: true },
    });
    if (recent) continue;
    if (await queueViewerDiscard(db, v, null)) queued++;
  }
  return queued;
}

/** Writes one export's files; the row says ready (with what was written and skipped) or failed. */
export async function prepareExport(db: Db, exportId: string, dataDir: string, clock: Clock): Promise<void> {
  const exp = await db.submissionExport.findUniqueOrThrow({ where: { id: exportId }, select: { id: true, classId: true, state: true } });
  if (exp.state !== "preparing") return;
  const dir = exportDir(dataDir, exp.id);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const kept = await db.vmSubmission.findMany({ where: { classId: exp.classId }, select: { vmId: true } });
    const vms = await db.vm.findMany({
      where: { classId: exp.classId, OR: [{ deletedAt: null }, { id: { in: kept.map((k) => k.vmId) } }] },
      orderBy: [{ owner: { username: "asc" } }, { createdAt: "asc" }],
      select: { id: true, domainName: true, owner: { select: { username: true } }, host: { select: { uri: true, poolPath: true } } },
    });
    const taken = new Set<string>();
    const files: Array<{ username: string; file: string; bytes: number }> = [];
    const skipped: Array<{ username: string; reason: string }> = [];
    for (const vm of vms) {
      const username = vm.owner.username;
      if (!isLocalHostUri(vm.host.uri)) {
        skipped.push({ username, reason: "its VM is on another host" });
        continue;
      }
      const source = await submissionSource(db, vm, vm.host);
      if (!source) {
        skipped.push({ username, reason: "no submission (added after the freeze, or its freeze failed)" });
        continue;
      }
      const file = exportFileName(username, taken);
      taken.add(file);
      const target = path.join(dir, file);
      await copySubmission(source, target);
      files.push({ username, file, bytes: (await fs.stat(target)).size });
    }
    await db.submissionExport.updateMany({ where: { id: exp.id, state: "preparing" }, data: { state: "ready", files, skipped, readyAt: clock.now() } });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.warn({ exportId, err: message }, "submission export failed");
    await fs.rm(dir, { recursive: true, force: true });
    await db.submissionExport.updateMany({ where: { id: exp.id, state: "preparing" }, data: { state: "failed", error: message } });
  }
}

/** Deletes the files of expired exports (and of exports replaced by a newer one, marked expired by the service). */
export async function purgeExports(db: Db, dataDir: string, clock: Clock): Promise<number> {
  const now = clock.now();
  await db.submissionExport.updateMany({ where: { state: { in: ["ready", "failed", "preparing"] }, expiresAt: { lte: now } }, data: { state: "expired" } });
  const gone = await db.submissionExport.findMany({ where: { state: "expired" }, select: { id: true } });
  const root = path.join(dataDir, "submission-exports");
  const present = new Set(await fs.readdir(root).catch(() => [] as string[]));
  let removed = 0;
  for (const e of gone) {
    if (!present.has(e.id)) continue;
    await fs.rm(exportDir(dataDir, e.id), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** The sweep, with one export prepared at a time per process (a pass never waits for a copy). */
export class SubmissionJobs {
  private preparing: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly dataDir: string,
  ) {}

  async tick(): Promise<void> {
    await sweepViewers(this.db, this.clock);
    await purgeExports(this.db, this.dataDir, this.clock);
    if (this.preparing) return;
    const next = await this.db.submissionExport.findFirst({ where: { state: "preparing" }, orderBy: { createdAt: "asc" }, select: { id: true } });
    if (!next) return;
    this.preparing = prepareExport(this.db, next.id, this.dataDir, this.clock).finally(() => (this.preparing = null));
  }

  /** Waits for an export in progress (tests, shutdown). */
  async idle(): Promise<void> {
    await this.preparing;
  }
}
