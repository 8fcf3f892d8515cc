/**
 * `npm run bench:provision` — N VMs through the portal's REST API (create → all running) versus the
 * same N with a raw baseline in the same run: qemu-img overlay + virsh define + virsh start of the
 * equivalent XML, one after another, as an admin's shell script would. Prints one JSON line.
 */
import os from "node:os";
import { restClient, startPortalServer } from "../support/server.ts";
import { waitFor } from "../support/harness.ts";
import { BENCH_ADMIN_PASSWORD, assertBenchPrepared, baselineRun, prepareBenchDatabase } from "./baseline.ts";

assertBenchPrepared("provision");
const N = Number(process.env.BENCH_N ?? 10);
const MEMORY_MIB = 96;

async function portalRun(): Promise<number> {
  const { url, imageId } = await prepareBenchDatabase("vmdesk_bench", "bench");
  const portal = await startPortalServer(url, { VMDESK_LOG_LEVEL: "error" });
  try {
    const anon = restClient(portal.baseUrl);
    const admin = restClient(portal.baseUrl, (await anon("POST", "/auth/token", { username: "admin", password: BENCH_ADMIN_PASSWORD })).body.token);
    const tenant = (await admin("POST", "/users", { username: "bench", password: "bench-password-1", role: "tenant" })).body;
    await admin("PUT", `/users/${tenant.id}/quota`, { vms: N, vcpus: N, memoryMiB: N * MEMORY_MIB, diskGiB: N });
    const api = restClient(portal.baseUrl, (await anon("POST", "/auth/token", { username: "bench", password: "bench-password-1" })).body.token);

    const t0 = performance.now();
    const created = await Promise.all(Array.from({ length: N }, (_, i) => api("POST", "/vms", { name: `bench-${i}`, imageId, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1 })));
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

const baseline_s = baselineRun(N, MEMORY_MIB);
const portal_s = await portalRun();
console.log(JSON.stringify({ bench: "provision", n: N, portal_s: +portal_s.toFixed(2), baseline_s: +baseline_s.toFixed(2), ratio: +(portal_s / baseline_s).toFixed(2), cores: os.cpus().length }));
process.exit(0);
