/**
 * `npm run bench:failover` — K HA guests (BENCH_K, default 5; 1 vCPU, 128 MiB) on lab1 of two lab
 * hosts sharing their pool (real libvirt daemons with disk leases, scripts/lab), created and marked HA
 * through the real portal's REST API; then `lab:hosts -- kill lab1` (a power loss). Measured from the
 * kill: `detect_s`, until the portal shows every VM `unknown` (the host is down), and
 * `all_running_s`, until every VM runs on lab2.
 * `duplicates` counts samples (every 200 ms: each host's daemon, or its QEMU processes while the daemon
 * is dead) in which one guest ran on two hosts.
 *
 * Baseline in the same run: the floor of a restart, i.e. the same K domains, already defined on
 * lab2, destroyed and started again with `virsh start` one after another (no detection, no
 * placement, no lease check from a second host). `ratio` = all_running_s / baseline_s.
 * Targets (issue 10): detect < 10 s, all running < 60 s for K = 5, duplicates 0.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { config, resetConfigForTests } from "../../server/config.ts";
import { disconnectDb } from "../../server/db/client.ts";
import { labDown, labKill, labPaths } from "../../scripts/lab/lab-hosts.ts";
import { labSharedPoolPath } from "../../scripts/lab/register.ts";
import { waitFor } from "../support/harness.ts";
import { watchForDuplicates } from "../support/lab-fleet.ts";
import { startPortalServer, type RunningPortal } from "../support/server.ts";
import { assertBenchPrepared, prepareBenchDatabase } from "./baseline.ts";
import { expectStatus, labAdmin, prepareLabFleet } from "./lab-bench.ts";

assertBenchPrepared("failover");
const K = Number(process.env.BENCH_K ?? 5);
const MEMORY_MIB = 128;
const execFileAsync = promisify(execFile);


const { url } = await prepareBenchDatabase("vmdesk_bench_failover", "fbench");
process.env.DATABASE_URL = url;
resetConfigForTests();
const cfg = config();
const paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
let portal: RunningPortal | null = null;
let watcher: ReturnType<typeof watchForDuplicates> | null = null;
process.on("SIGINT", () => void portal?.stop());
process.on("SIGTERM", () => void portal?.stop());

try {
  const { lab, imageId } = await prepareLabFleet(paths, cfg.hostCredentialsDir, { sharedPoolPath: labSharedPoolPath(paths), imageName: "bench failover (shared)" });
  // The portal as `npm run up` runs it (relist every 5 s).
  portal = await startPortalServer(url, { VMDESK_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "error", VMDESK_RELIST_INTERVAL_MS: "5000" });
  const { admin, hostId } = await labAdmin(portal);

  const vms: Array<{ id: string; domain: string }> = [];
  for (let i = 0; i < K; i++) {
    const created = await expectStatus("create VM", admin("POST", "/vms", { name: `ha-${i}`, imageId, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1, hostId: hostId("lab1") }), 202);
    vms.push({ id: created.vm.id, domain: created.vm.domainName });
  }
  const vmStates = async () => Promise.all(vms.map(async (v) => (await admin("GET", `/vms/${v.id}`)).body as { state: string; host: { id: string }; activeOperationId: string | null }));
  await waitFor("every guest running on lab1", async () => ((await vmStates()).every((v) => v.state === "running" && v.activeOperationId === null) ? true : null), 300_000, 500);
  for (const [i, v] of vms.entries()) await expectStatus("mark HA", admin("PUT", `/vms/${v.id}/ha`, { enabled: true, priority: i * 10 }), 200);
  // Booted (the guests' first output), so the kill hits running systems, not firmware.
  await waitFor("every guest booted", async () => vms.every((v) => {
    try {
      return readFileSync(path.join(lab[0]!.dir, "log", "qemu", `${v.domain}-serial.log`), "utf8").includes("vmdesk-demo-ready");
    } catch {
      return false;
    }
  }) || null, 180_000, 500);

  watcher = watchForDuplicates(lab);

  const t0 = performance.now();
  labKill(paths, "lab1");
  await waitFor("every VM unknown (lab1 down)", async () => ((await vmStates()).every((v) => v.state === "unknown" || v.host.id === hostId("lab2")) ? true : null), 120_000, 100);
  const detect_s = (performance.now() - t0) / 1000;
  await waitFor("every VM running on lab2", async () => ((await vmStates()).every((v) => v.state === "running" && v.host.id === hostId("lab2") && v.activeOperationId === null) ? true : null), 300_000, 100);
  const all_running_s = (performance.now() - t0) / 1000;
  await watcher.stop();
  const { duplicates, samples } = { duplicates: watcher.duplicates.length, samples: watcher.samples };
  if (duplicates > 0) console.error(watcher.duplicates.join("\n"));
  watcher = null;

  // Baseline: the floor of restarting the same K domains on lab2 (defined there already).
  for (const v of vms) await execFileAsync("virsh", ["-q", "-c", lab[1]!.uri, "destroy", v.domain], { timeout: 60_000 });
  const b0 = performance.now();
  for (const v of vms) await execFileAsync("virsh", ["-q", "-c", lab[1]!.uri, "start", v.domain], { timeout: 120_000 });
  const baseline_s = (performance.now() - b0) / 1000;

  console.log(
    JSON.stringify({
      bench: "failover",
      vms: K,
      detect_s: +detect_s.toFixed(2),
      all_running_s: +all_running_s.toFixed(2),
      baseline_s: +baseline_s.toFixed(2),
      ratio: +(all_running_s / baseline_s).toFixed(2),
      duplicates,
      samples,
      targets_met: detect_s < 10 && all_running_s < 60 && duplicates === 0,
    }),
  );
  for (const v of vms) await admin("DELETE", `/vms/${v.id}`);
  await waitFor("the guests deleted", async () => ((await Promise.all(vms.map((v) => admin("GET", `/vms/${v.id}`)))).every((r) => r.status === 404) ? true : null), 180_000, 500).catch((err: unknown) =>
    console.error(String(err)),
  );
} finally {
  await watcher?.stop();
  await portal?.stop();
  labDown(paths);
  await disconnectDb();
}
process.exit(0);
