/**
 * Shared by the benchmarks: a fresh bench database with the local host, the demo image and an admin,
 * and the raw baseline every portal number is compared with — qemu-img overlay + virsh define +
 * virsh start of the equivalent domain XML, one VM after another, as an admin's shell script would.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { disconnectDb } from "../../server/db/client.ts";
import { domainXml, serialLogPath } from "../../server/jobs/vm-layout.ts";
import { dataDir, demoImageDir, repoRoot, seedDatabase } from "../support/harness.ts";
import { READY_MARKER, guestPrompted } from "../support/guest-serial.ts";
import { cpuSecondsBetween, readCpu, type CpuSeconds } from "./cpu-usage.ts";

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

interface BaselineScript {
  dir: string;
  names: string[];
  script: string;
}

/** Writes the raw baseline's script: qemu-img overlay + virsh define + virsh start, one VM after another. */
function baselineScript(n: number, memoryMiB: number, label: string): BaselineScript {
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
  return { dir, names, script };
}

function removeBaseline({ dir, names }: BaselineScript): void {
  for (const name of names) {
    virshQuiet("destroy", name);
    virshQuiet("undefine", name);
    fs.rmSync(serialLogPath(name), { force: true });
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Creates and starts `n` VMs (1 vCPU, `memoryMiB`, 1 GiB overlay) sequentially with raw tools and
 * returns the seconds that took; the domains and overlays are removed afterwards, also on failure.
 */
export function baselineRun(n: number, memoryMiB: number, label = "bench"): number {
  const baseline = baselineScript(n, memoryMiB, label);
  try {
    const t0 = performance.now();
    execFileSync("bash", [baseline.script], { stdio: "inherit" });
    return (performance.now() - t0) / 1000;
  } finally {
    removeBaseline(baseline);
  }
}

/**
 * When each guest first showed its login prompt (READY_MARKER on its serial console), in ms from
 * `t0`: the portal's and the baseline's guests are timed the same way.
 */
export class PromptWatch {
  private readonly readyAt = new Map<string, number>();
  constructor(private readonly t0: number) {}

  /** Reads the serial logs of the domains not seen ready yet; returns how many have been. */
  check(domainNames: Iterable<string>): number {
    for (const name of domainNames) if (!this.readyAt.has(name) && guestPrompted(name)) this.readyAt.set(name, performance.now() - this.t0);
    return this.readyAt.size;
  }

  /** The first and the last prompt, seconds from t0; throws when fewer than `n` guests showed one. */
  times(n: number, whose: string): { firstReadyS: number; readyS: number } {
    if (this.readyAt.size < n) throw new Error(`${n - this.readyAt.size} ${whose} guest(s) never printed ${READY_MARKER}`);
    const ready = [...this.readyAt.values()];
    return { firstReadyS: Math.min(...ready) / 1000, readyS: Math.max(...ready) / 1000 };
  }
}

/**
 * baselineRun, also timing the first and the last guest's login prompt from the start of the script,
 * as bench:classroom times the portal's, and the CPU the run took (see cpu-usage.ts).
 */
export async function baselineRunWithPrompts(n: number, memoryMiB: number, label = "bench"): Promise<{ seconds: number; firstReadyS: number; readyS: number; cpuS: CpuSeconds }> {
  const baseline = baselineScript(n, memoryMiB, label);
  try {
    const cpuBefore = readCpu();
    let cpuS: CpuSeconds | null = null;
    const t0 = performance.now();
    const child = spawn("bash", [baseline.script], { stdio: "inherit" });
    let seconds: number | null = null;
    const exited = new Promise<void>((resolve, reject) =>
      child.on("exit", (code) => {
        seconds = (performance.now() - t0) / 1000;
        cpuS = cpuSecondsBetween(cpuBefore, readCpu());
        if (code === 0) resolve();
        else reject(new Error(`the baseline script exited with ${code}`));
      }),
    );
    exited.catch(() => undefined);
    const prompts = new PromptWatch(t0);
    while (prompts.check(baseline.names) < n && performance.now() - t0 < 600_000) {
      if (child.exitCode !== null && child.exitCode !== 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await exited;
    return { seconds: seconds!, ...prompts.times(n, "baseline"), cpuS: cpuS! };
  } finally {
    removeBaseline(baseline);
  }
}
