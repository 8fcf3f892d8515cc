/**
 * Submission files on a host of this machine: whether a disk holds the `submission` snapshot, copying
 * that snapshot out of the disk, and where a VM's submission lies now (its disk, or the preserved copy
 * once a reset or delete destroyed the disk).
 *
 * Why `qemu-img convert -l snapshot.name=…`: the freeze's snapshot is internal (it lives inside the
 * VM's qcow2), so there is no file to put a linked clone on, and libvirt's storage API copies only a
 * volume's current state (virStorageVolCreateXMLFrom) — after a reset or a student's further work
 * that is not the submission. Reverting the student's domain to read it would change the student's VM.
 * convert reads the snapshot's own L1 table, through the backing chain (the lab template), and writes a
 * standalone qcow2 of exactly the submitted disk. It is safe beside a running or changing VM (`-U`,
 * no lock taken): a snapshot's clusters are shared copy-on-write (refcount ≥ 2), so the guest's writes
 * never change them in place, and vmdesk never deletes a `submission` snapshot. It reads files, so it
 * runs where they are: hosts of this machine only (remote hosts are refused with 409 by the services).
 */
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Db } from "../db/client.ts";
import { SUBMISSION_SNAPSHOT } from "../domain/submissions.ts";
import { diskVolumeName, type HostRow, type VmRow } from "./vm-layout.ts";

const run = promisify(execFile);
/** A copy of a large disk takes a while; a hung qemu-img must not hold an operation forever. */
const CONVERT_TIMEOUT_MS = 60 * 60_000;
const INFO_TIMEOUT_MS = 60_000;

export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

/** A directory pool keeps each volume as a file named after it (ensurePool checks the pool's path). */
export function poolFile(host: Pick<HostRow, "poolPath">, volume: string): string {
  return path.join(host.poolPath, volume);
}

/** The internal snapshots of a qcow2 file (read without taking its lock: it may be in use). */
export async function snapshotNames(file: string): Promise<string[]> {
  const { stdout } = await run("qemu-img", ["info", "-U", "--output=json", "-f", "qcow2", file], { timeout: INFO_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } });
  const info = JSON.parse(stdout) as { snapshots?: Array<{ name?: string }> };
  return (info.snapshots ?? []).map((s) => s.name ?? "");
}

/** Writes `to` atomically (a `.part` file renamed into place): a retry after a crash starts the copy over. */
async function writeAtomically(to: string, make: (part: string) => Promise<unknown>): Promise<void> {
  const part = `${to}.part`;
  await fs.rm(part, { force: true });
  try {
    await make(part);
    await fs.rename(part, to);
  } catch (err) {
    await fs.rm(part, { force: true });
    const e = err as { stderr?: string; message?: string };
    throw new Error(`copying the submission failed: ${(e.stderr ?? "").trim().slice(0, 500) || e.message}`);
  }
}

/** A standalone qcow2 of `disk` as it was at internal snapshot `snapshot`. */
export async function extractSnapshot(disk: string, snapshot: string, to: string): Promise<void> {
  await writeAtomically(to, (part) =>
    run("qemu-img", ["convert", "-U", "-f", "qcow2", "-l", `snapshot.name=${snapshot}`, "-O", "qcow2", "-o", "compat=1.1", disk, part], { timeout: CONVERT_TIMEOUT_MS, env: { ...process.env, LC_ALL: "C" } }),
  );
}

/** A copy of a standalone qcow2 (a preserved submission), sparse like the original. */
export async function copyImage(from: string, to: string): Promise<void> {
  await writeAtomically(to, (part) => run("qemu-img", ["convert", "-U", "-f", "qcow2", "-O", "qcow2", from, part], { timeout: CONVERT_TIMEOUT_MS, env: { ...process.env, LC_ALL: "C" } }));
}

/** A linked clone (qcow2 overlay) of a read-only base: the viewer of a preserved submission boots on one. */
export async function overlayOn(base: string, to: string): Promise<void> {
  await writeAtomically(to, (part) => run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "compat=1.1", "-b", base, "-F", "qcow2", part], { timeout: INFO_TIMEOUT_MS }));
}

export type SubmissionSource = { kind: "preserved"; path: string } | { kind: "disk"; path: string };

/**
 * Where VM `vm`'s submission lies on its host now: the preserved copy when one was recorded (and is
 * there), else the VM's own disk if it still holds the snapshot; null when it has none (a VM added
 * after the freeze, or a freeze that failed for it).
 */
export async function submissionSource(db: Db, vm: Pick<VmRow, "id" | "domainName">, host: Pick<HostRow, "poolPath">): Promise<SubmissionSource | null> {
  const kept = await db.vmSubmission.findUnique({ where: { vmId: vm.id }, select: { path: true } });
  if (kept && (await exists(kept.path))) return { kind: "preserved", path: kept.path };
  const disk = poolFile(host, diskVolumeName(vm as VmRow));
  if (!(await exists(disk))) return null;
  const names = await snapshotNames(disk).catch((): string[] => []);
  return names.includes(SUBMISSION_SNAPSHOT) ? { kind: "disk", path: disk } : null;
}

/** Copies a submission to a standalone qcow2 at `to` (an export's file), whichever its source. */
export async function copySubmission(source: SubmissionSource, to: string): Promise<void> {
  if (source.kind === "preserved") await copyImage(source.path, to);
  else await extractSnapshot(source.path, SUBMISSION_SNAPSHOT, to);
}
