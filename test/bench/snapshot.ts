/**
 * `npm run bench:snapshot` — a tenant takes a snapshot of a running guest and reverts to it through
 * the portal's REST API (POST …/snapshots, wait for the operation; POST …/revert, wait), versus
 * `virsh snapshot-create-as` + `virsh snapshot-revert` of an equivalent domain in the same run.
 * Median of ROUNDS rounds each (snapshots are deleted between rounds, untimed). Prints one JSON line.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { domainXml, serialLogPath } from "../../server/jobs/vm-layout.ts";
import { dataDir, waitFor } from "../support/harness.ts";
import { restClient, startPortalServer } from "../support/server.ts";
import { BENCH_ADMIN_PASSWORD, assertBenchPrepared, baseImage, prepareBenchDatabase } from "./baseline.ts";

assertBenchPrepared("snapshot");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MEMORY_MIB = 128;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const virsh = (...args: string[]) => execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8" });

async function portalRun(): Promise<number[]> {
  const { url, imageId } = await prepareBenchDatabase("vmdesk_bench_snapshot", "sbench");
  const portal = await startPortalServer(url, { VMDESK_LOG_LEVEL: "error" });
  try {
    const anon = restClient(portal.baseUrl);
    const admin = restClient(portal.baseUrl, (await anon("POST", "/auth/token", { username: "admin", password: BENCH_ADMIN_PASSWORD })).body.token);
    const tenant = (await admin("POST", "/users", { username: "bench", password: "bench-password-1", role: "tenant" })).body;
    await admin("PUT", `/users/${tenant.id}/quota`, { vms: 1, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1, snapshots: 10 });
    const api = restClient(portal.baseUrl, (await anon("POST", "/auth/token", { username: "bench", password: "bench-password-1" })).body.token);
    const created = await api("POST", "/vms", { name: "snapshot bench", imageId, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1 });
    if (created.status !== 202) throw new Error(`create: ${JSON.stringify(created.body)}`);
    const vmId = created.body.vm.id as string;
    await waitFor("the guest ready", async () => {
      const vm = (await api("GET", `/vms/${vmId}`)).body;
      if (vm.state === "error") throw new Error(`the VM failed: ${vm.stateMessage}`);
      return vm.guestReadyAt;
    }, 120_000, 200);

    const done = (opId: string) =>
      waitFor(`operation ${opId}`, async () => {
        const op = (await api("GET", `/operations/${opId}`)).body;
        if (op.status === "failed") throw new Error(`operation failed: ${op.error}`);
        return op.status === "succeeded" ? op : null;
      }, 120_000, 20);
    const rounds: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const snap = await api("POST", `/vms/${vmId}/snapshots`, { name: `r${i}` });
      if (snap.status !== 202) throw new Error(`snapshot: ${JSON.stringify(snap.body)}`);
      await done(snap.body.operation.id);
      const rev = await api("POST", `/vms/${vmId}/snapshots/r${i}/revert`);
      if (rev.status !== 202) throw new Error(`revert: ${JSON.stringify(rev.body)}`);
      await done(rev.body.operation.id);
      rounds.push((performance.now() - t0) / 1000);
      const del = await api("DELETE", `/vms/${vmId}/snapshots/r${i}`);
      await done(del.body.operation.id);
    }
    const del = await api("DELETE", `/vms/${vmId}`);
    await done(del.body.operation.id);
    return rounds;
  } finally {
    await portal.stop();
  }
}

/** The same guest as raw libvirt: overlay, define, start, wait for its banner; then the virsh rounds. */
async function baselineRun(): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(dataDir, "snapshot-baseline-"));
  fs.chmodSync(dir, 0o755);
  const id = randomUUID();
  const name = `vmdesk-sbench-baseline-${id.slice(0, 8)}`;
  const disk = path.join(dir, `${name}.qcow2`);
  const xml = domainXml(
    { id, name: "snapshot baseline", ownerId: id, domainName: name, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1 },
    { id: "h", uri: "qemu:///system", domainType: "qemu", cpuMode: "none", poolName: "x", poolPath: dir },
    { path: baseImage, format: "qcow2" },
    disk,
  );
  fs.writeFileSync(path.join(dir, `${name}.xml`), xml);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "compat=1.1", "-b", baseImage, "-F", "qcow2", disk, "1G"]);
  try {
    virsh("define", path.join(dir, `${name}.xml`));
    virsh("start", name);
    const log = serialLogPath(name);
    await waitFor("the baseline guest ready", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 120_000, 200);
    const rounds: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      virsh("snapshot-create-as", name, `b${i}`);
      virsh("snapshot-revert", name, `b${i}`);
      rounds.push((performance.now() - t0) / 1000);
      virsh("snapshot-delete", name, `b${i}`);
    }
    return rounds;
  } finally {
    try {
      virsh("destroy", name);
    } catch {
      // not running
    }
    try {
      virsh("undefine", name, "--snapshots-metadata");
    } catch {
      // not defined
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const baseline = await baselineRun();
const portal = await portalRun();
const portal_s = median(portal);
const baseline_s = median(baseline);
console.log(
  JSON.stringify({
    bench: "snapshot",
    rounds: ROUNDS,
    memory_mib: MEMORY_MIB,
    portal_s: +portal_s.toFixed(3),
    baseline_s: +baseline_s.toFixed(3),
    ratio: +(portal_s / baseline_s).toFixed(2),
    target_met: portal_s / baseline_s <= 1.2,
  }),
);
process.exit(0);
