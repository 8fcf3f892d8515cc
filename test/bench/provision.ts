/**
 * `npm run bench:provision` — N VMs through the portal's REST API (create → all running) versus the
 * same N with a raw baseline in the same run: qemu-img overlay + virsh define + virsh start of the
 * equivalent XML, one after another, as an admin's shell script would. Prints one JSON line.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { db, disconnectDb } from "../../server/db/client.ts";
import { resetConfigForTests } from "../../server/config.ts";
import { ensureAdmin } from "../../server/services/user-service.ts";
import { domainXml } from "../../server/jobs/vm-layout.ts";
import { dataDir, demoImageDir, freshDatabase, testPoolName, waitFor } from "../support/harness.ts";
import { restClient, startPortalServer } from "../support/server.ts";

const N = Number(process.env.BENCH_N ?? 10);
const MEMORY_MIB = 96;
const baseImage = path.join(demoImageDir, "vmdesk-demo.qcow2");

async function portalRun(): Promise<number> {
  const url = freshDatabase("vmdesk_bench");
  process.env.DATABASE_URL = url;
  resetConfigForTests();
  const host = await db().host.create({ data: { name: "local", uri: "qemu:///system", domainType: "qemu", cpuMode: "none", poolName: `${testPoolName}-bench`, poolPath: path.join(dataDir, "pool-bench") } });
  const image = await db().image.create({ data: { name: "demo", path: baseImage, format: "qcow2", minDiskGiB: 1, hostId: host.id } });
  await ensureAdmin(db(), "admin", "bench-admin-password");
  await disconnectDb();
  const portal = await startPortalServer(url, { VMDESK_LOG_LEVEL: "error" });
  try {
    const anon = restClient(portal.baseUrl);
    const admin = restClient(portal.baseUrl, (await anon("POST", "/auth/token", { username: "admin", password: "bench-admin-password" })).body.token);
    const tenant = (await admin("POST", "/users", { username: "bench", password: "bench-password-1", role: "tenant" })).body;
    await admin("PUT", `/users/${tenant.id}/quota`, { vms: N, vcpus: N, memoryMiB: N * MEMORY_MIB, diskGiB: N });
    const api = restClient(portal.baseUrl, (await anon("POST", "/auth/token", { username: "bench", password: "bench-password-1" })).body.token);

    const t0 = performance.now();
    const created = await Promise.all(Array.from({ length: N }, (_, i) => api("POST", "/vms", { name: `bench-${i}`, imageId: image.id, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1 })));
    if (created.some((r) => r.status !== 202)) throw new Error(`create failed: ${JSON.stringify(created.find((r) => r.status !== 202)?.body)}`);
    const final = await waitFor("all VMs running or failed", async () => {
      const vms = (await api("GET", "/vms")).body as Array<{ state: string; stateMessage: string | null }>;
      return vms.length === N && vms.every((v) => v.state === "running" || v.state === "error") ? vms : null;
    }, 600_000, 50);
    const failed = final.filter((v) => v.state === "error");
    if (failed.length) throw new Error(`${failed.length} VM(s) failed: ${failed[0]?.stateMessage}`);
    const seconds = (performance.now() - t0) / 1000;

    for (const r of created) await api("DELETE", `/vms/${r.body.vm.id}`);
    await waitFor("all VMs deleted", async () => ((await api("GET", "/vms")).body as unknown[]).length === 0, 300_000, 250);
    return seconds;
  } finally {
    await portal.stop();
  }
}

function baselineRun(): number {
  const dir = fs.mkdtempSync(path.join(dataDir, "bench-baseline-"));
  fs.chmodSync(dir, 0o755);
  const names: string[] = [];
  const lines = ["set -e"];
  for (let i = 0; i < N; i++) {
    const id = randomUUID();
    const name = `vmdesk-bench-baseline-${i}-${id.slice(0, 8)}`;
    names.push(name);
    const disk = path.join(dir, `${name}.qcow2`);
    const xml = domainXml(
      { id, name: `baseline ${i}`, ownerId: id, domainName: name, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1 },
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
  const t0 = performance.now();
  execFileSync("bash", [script], { stdio: "inherit" });
  const seconds = (performance.now() - t0) / 1000;
  for (const name of names) {
    execFileSync("virsh", ["-q", "-c", "qemu:///system", "destroy", name], { stdio: "ignore" });
    execFileSync("virsh", ["-q", "-c", "qemu:///system", "undefine", name], { stdio: "ignore" });
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return seconds;
}

const baseline_s = baselineRun();
const portal_s = await portalRun();
console.log(JSON.stringify({ bench: "provision", n: N, portal_s: +portal_s.toFixed(2), baseline_s: +baseline_s.toFixed(2), ratio: +(portal_s / baseline_s).toFixed(2), cores: os.cpus().length }));
process.exit(0);
