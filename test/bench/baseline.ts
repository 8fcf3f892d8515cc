/**
 * Shared by the benchmarks: a fresh bench database with the local host, the demo image and an admin,
 * and the raw baseline every portal number is compared with — qemu-img overlay + virsh define +
 * virsh start of the equivalent domain XML, one VM after another, as an admin's shell script would.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { disconnectDb } from "../../server/db/client.ts";
import { domainXml } from "../../server/jobs/vm-layout.ts";
import { dataDir, demoImageDir, repoRoot, seedDatabase } from "../support/harness.ts";

export const baseImage = path.join(demoImageDir, "vmdesk-demo.qcow2");
export const BENCH_ADMIN_PASSWORD = "bench-admin-password";

/**
 * Run directly (not through `npm run bench:…`, which prepares everything first), a benchmark stops
 * here with one line saying what to run, not with a stack trace from halfway through.
 */
export function assertBenchPrepared(bench: string): void {
  const missing = [
    fs.existsSync(baseImage) ? null : `the demo image ${baseImage}`,
    fs.existsSync(path.join(repoRoot, ".next/BUILD_ID")) ? null : "the production build (.next)",
  ].filter((m) => m !== null);
  if (missing.length) {
    console.error(`bench:${bench}: missing ${missing.join(" and ")}: run \`npm run bench:${bench}\`, which prepares them`);
    process.exit(1);
  }
}

/**
 * Creates database `name` with the local host (its own pool, `poolSuffix`, so benchmarks never share
 * a pool with the tests), the demo image and the admin; returns the URL for the portal process.
 */
export async function prepareBenchDatabase(name: string, poolSuffix: string): Promise<{ url: string; imageId: string }> {
  const { url, imageId } = await seedDatabase(name, { poolSuffix, adminPassword: BENCH_ADMIN_PASSWORD });
  await disconnectDb();
  return { url, imageId };
}

function virshQuiet(...args: string[]): void {
  try {
    execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { stdio: "ignore" });
  } catch {
    // already gone
  }
}

/**
 * Creates and starts `n` VMs (1 vCPU, `memoryMiB`, 1 GiB overlay) sequentially with raw tools and
 * returns the seconds that took; the domains and overlays are removed afterwards, also on failure.
 */
export function baselineRun(n: number, memoryMiB: number, label = "bench"): number {
  const dir = fs.mkdtempSync(path.join(dataDir, `${label}-baseline-`));
  fs.chmodSync(dir, 0o755);
  const names: string[] = [];
  const lines = ["set -e"];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    const name = `vmdesk-${label}-baseline-${i}-${id.slice(0, 8)}`;
    names.push(name);
    const disk = path.join(dir, `${name}.qcow2`);
    const xml = domainXml(
      { id, name: `baseline ${i}`, ownerId: id, domainName: name, vcpus: 1, memoryMiB, diskGiB: 1 },
      { id: "h", uri: "qemu:///system", domainType: "qemu", cpuMode: "none", poolName: "x", poolPath: dir },
      { path: baseImage, format: "qcow2" },
      disk,
    );
    fs.writeFileSync(path.join(dir, `${name}.xml`), xml);
    lines.push(`qemu-img create -q -f qcow2 -o compat=1.1 -b ${baseImage} -F qcow2 ${disk} 1G`);
    lines.push(`virsh -q -c qemu:///system define ${path.join(dir, `${name}.xml`)} >/dev/null`);
    lines.push(`virsh -q -c qemu:///system start ${name} >/dev/null`);
  }
  const script = path.join(dir, "baseline.sh");
  fs.writeFileSync(script, lines.join("\n") + "\n");
  try {
    const t0 = performance.now();
    execFileSync("bash", [script], { stdio: "inherit" });
    return (performance.now() - t0) / 1000;
  } finally {
    for (const name of names) {
      virshQuiet("destroy", name);
      virshQuiet("undefine", name);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
