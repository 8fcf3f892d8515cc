/**
 * A VM's cloud-init NoCloud seed disc: the three files from domain/cloud-init, written into a small
 * ISO 9660 image labelled `cidata` (Joliet + Rock Ridge, so the guest sees the names `meta-data`,
 * `user-data`, `network-config`) by xorriso on the worker's machine, then uploaded into the VM's host
 * pool through libvirt's storage API (so remote hosts get it the same way). The domain XML attaches
 * it read-only (vm-layout). Idempotent: the volume is replaced as a whole, from the VM row only.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { buildNoCloudSeed, storedCloudInit, type NoCloudSeed } from "../domain/cloud-init.ts";
import type { HostConnection } from "../hypervisor/driver.ts";
import { buildVolumeXml } from "../hypervisor/xml/index.ts";
import { seedVolumeName, type HostRow, type VmRow } from "./vm-layout.ts";

const run = promisify(execFile);
const XORRISO_TIMEOUT_MS = 30_000;
const CHUNK = 256 * 1024;

/** The ISO bytes for a seed. Needs xorriso (Debian package `xorriso`, installed by scripts/host-setup.sh). */
export async function buildSeedIso(seed: NoCloudSeed): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), "vmdesk-cidata-"));
  try {
    const files = path.join(dir, "files");
    await mkdir(files);
    for (const [name, content] of Object.entries(seed)) await writeFile(path.join(files, name), content, { mode: 0o600 });
    const out = path.join(dir, "seed.iso");
    try {
      await run("xorriso", ["-as", "mkisofs", "-quiet", "-o", out, "-V", "cidata", "-J", "-r", files], { timeout: XORRISO_TIMEOUT_MS });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("cannot build the cloud-init seed: xorriso is not installed on the portal machine (apt-get install xorriso)");
      throw new Error(`cannot build the cloud-init seed: xorriso failed: ${(err as { stderr?: string }).stderr?.trim().split("\n").pop() ?? String(err)}`);
    }
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Puts the VM's seed into `host`'s pool (replacing any earlier or partial one); no-op for a VM
 * without cloud-init. The pool must exist (ensurePool).
 */
export async function ensureSeed(conn: HostConnection, host: HostRow, vm: VmRow): Promise<void> {
  const config = storedCloudInit(vm.cloudInit);
  if (!config) return;
  const iso = await buildSeedIso(buildNoCloudSeed(vm.id, config));
  const name = seedVolumeName(vm);
  await conn.deleteVolume(host.poolName, name);
  await conn.createVolume(host.poolName, buildVolumeXml({ name, capacityBytes: iso.length, format: "raw" }));
  const writer = await conn.openVolumeWriter(host.poolName, name, iso.length);
  try {
    for (let at = 0; at < iso.length; at += CHUNK) await writer.write(iso.subarray(at, at + CHUNK));
    await writer.finish();
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  }
}

/** Removes the seed volume; no-op when absent (or the VM never had one). */
export async function deleteSeed(conn: HostConnection, host: HostRow, vm: VmRow): Promise<void> {
  await conn.deleteVolume(host.poolName, seedVolumeName(vm));
}
