/**
 * `npm run bench:migrate` — live migration of a running 128 MiB guest between two lab hosts (real
 * libvirt daemons over qemu+tls, scripts/lab), through the real portal's REST API (POST
 * /vms/{id}/migrate, then poll the operation until it succeeded) versus `virsh migrate --live --p2p`
 * of an identical domain in the same run, with the same work on both sides. Two storage set-ups
 * (BENCH_MIGRATE_STORAGE):
 * - `shared` (default): the hosts share their pool on the lab's shared storage, so only memory moves
 *   (virsh: --unsafe, as the portal passes for a declared shared pool; the destination's pool is
 *   refreshed after the move on both sides);
 * - `copy`: each host has its own pool: the overlay is prepared on the destination, the guest's memory
 *   and its disk overlay are copied (the backing image lies on the shared storage), and the stale
 *   overlay on the source is removed.
 * Back and forth, runs interleaved so both sides see the same machine. Prints one JSON line with
 * medians and their ratio.
 */
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { config, resetConfigForTests } from "../../server/config.ts";
import { disconnectDb } from "../../server/db/client.ts";
import { labDown, labPaths, type LabHost } from "../../scripts/lab/lab-hosts.ts";
import { LAB_SHARED_POOL_NAME, labSharedPoolPath } from "../../scripts/lab/register.ts";
import { buildVolumeXml } from "../../server/hypervisor/xml/index.ts";
import { waitFor } from "../support/harness.ts";
import { startPortalServer, type RunningPortal } from "../support/server.ts";
import { assertBenchPrepared, prepareBenchDatabase } from "./baseline.ts";
import { expectStatus, labAdmin, prepareLabFleet } from "./lab-bench.ts";

assertBenchPrepared("migrate");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MEMORY_MIB = 128;
const STORAGE = process.env.BENCH_MIGRATE_STORAGE ?? "shared";
if (STORAGE !== "shared" && STORAGE !== "copy") throw new Error("BENCH_MIGRATE_STORAGE: shared or copy");

function virsh(uri: string, ...args: string[]): string {
  return execFileSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 300_000 });
}

const execFileAsync = promisify(execFile);
async function virshAsync(uri: string, ...args: string[]): Promise<void> {
  await execFileAsync("virsh", ["-q", "-c", uri, ...args], { timeout: 300_000 });
}

const serialLog = (host: LabHost, domain: string) => path.join(host.dir, "log", "qemu", `${domain}-serial.log`);
const booted = (host: LabHost, domain: string) => {
  const f = serialLog(host, domain);
  return fs.existsSync(f) && fs.readFileSync(f, "utf8").includes("vmdesk-demo-ready");
};


const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const { url } = await prepareBenchDatabase("vmdesk_bench_migrate", "mbench");
process.env.DATABASE_URL = url;
resetConfigForTests();
const cfg = config();
const paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
let portal: RunningPortal | null = null;
let baselineName = "";
const scratch: string[] = [];
let lab: LabHost[] = [];
const onExit = () => {
  void portal?.stop();
};
process.on("SIGINT", onExit);
process.on("SIGTERM", onExit);

try {
  const sharedPoolPath = STORAGE === "shared" ? labSharedPoolPath(paths) : undefined;
  const pool = sharedPoolPath ? LAB_SHARED_POOL_NAME : "vmdesk";
  const fleet = await prepareLabFleet(paths, cfg.hostCredentialsDir, { sharedPoolPath, imageName: "bench migrate (shared)" });
  lab = fleet.lab;
  const { imageId, base } = fleet;

  portal = await startPortalServer(url, { VMDESK_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "error", VMDESK_RELIST_INTERVAL_MS: "5000" });
  const { admin, hostId } = await labAdmin(portal);

  // The portal's guest.
  const created = await expectStatus("create VM", admin("POST", "/vms", { name: "bench-mover", imageId, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1, hostId: hostId("lab1") }), 202);
  const vmId = created.vm.id as string;
  const domain = created.vm.domainName as string;
  await waitFor("the portal's guest running", async () => {
    const vm = (await admin("GET", `/vms/${vmId}`)).body;
    return vm.state === "running" && vm.activeOperationId === null ? vm : null;
  }, 180_000, 500);
  await waitFor("the portal's guest booted", async () => booted(lab[0]!, domain), 90_000, 250);

  // The baseline's guest: the same definition under another name and UUID, with its own overlay.
  baselineName = `vmdesk-mbench-baseline-${randomUUID().slice(0, 8)}`;
  const xml = virsh(lab[0]!.uri, "dumpxml", "--inactive", domain)
    .replaceAll(domain, baselineName)
    .replace(/<uuid>[^<]*<\/uuid>/, `<uuid>${randomUUID()}</uuid>`);
  const volFile = path.join(paths.root, `${baselineName}.vol.xml`);
  scratch.push(volFile);
  fs.writeFileSync(volFile, buildVolumeXml({ name: `${baselineName}.qcow2`, capacityBytes: 1024 ** 3, format: "qcow2", backing: { path: base, format: "qcow2" } }));
  const overlay = (host: LabHost) => virsh(host.uri, "vol-create", pool, volFile);
  overlay(lab[0]!);
  const xmlFile = path.join(paths.root, `${baselineName}.xml`);
  scratch.push(xmlFile);
  fs.writeFileSync(xmlFile, xml);
  virsh(lab[0]!.uri, "define", xmlFile);
  virsh(lab[0]!.uri, "start", baselineName);
  await waitFor("the baseline guest booted", async () => booted(lab[0]!, baselineName), 90_000, 250);

  async function portalMigrate(to: string): Promise<number> {
    const t0 = performance.now();
    const { operation } = await expectStatus(`migrate to ${to}`, admin("POST", `/vms/${vmId}/migrate`, { hostId: hostId(to) }), 202);
    const operationId = operation.id as string;
    const op = await waitFor("the migration finished", async () => {
      const o = (await admin("GET", `/operations/${operationId}`)).body;
      return o.status === "succeeded" || o.status === "failed" ? o : null;
    }, 600_000, 100);
    if (op.status !== "succeeded") throw new Error(`portal migration failed: ${op.error}`);
    return (performance.now() - t0) / 1000;
  }

  // Asynchronous: a blocked event loop would keep the REST client's idle keep-alive sockets past the
  // server's timeout, and its next request would meet a closed socket.
  async function baselineMigrate(from: LabHost, to: LabHost): Promise<number> {
    const t0 = performance.now();
    const common = ["migrate", "--live", "--p2p", "--persistent", "--undefinesource", "--change-protection", "--auto-converge"];
    if (STORAGE === "shared") {
      await virshAsync(from.uri, ...common, "--unsafe", baselineName, `qemu+tls://${to.address}/system`, `tcp://${to.address}`);
      await virshAsync(to.uri, "pool-refresh", pool);
    } else {
      await virshAsync(to.uri, "vol-create", pool, volFile);
      await virshAsync(from.uri, ...common, "--copy-storage-inc", baselineName, `qemu+tls://${to.address}/system`, `tcp://${to.address}`);
      await virshAsync(from.uri, "vol-delete", "--pool", pool, `${baselineName}.qcow2`);
    }
    return (performance.now() - t0) / 1000;
  }

  const portalRuns: number[] = [];
  const baselineRuns: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    portalRuns.push(await portalMigrate("lab2"));
    baselineRuns.push(await baselineMigrate(lab[0]!, lab[1]!));
    portalRuns.push(await portalMigrate("lab1"));
    baselineRuns.push(await baselineMigrate(lab[1]!, lab[0]!));
    console.error(`[bench:migrate] round ${round + 1}: portal ${portalRuns.slice(-2).map((s) => s.toFixed(2)).join(", ")} s; virsh ${baselineRuns.slice(-2).map((s) => s.toFixed(2)).join(", ")} s`);
  }
  const portal_s = median(portalRuns);
  const baseline_s = median(baselineRuns);
  console.log(
    JSON.stringify({
      bench: "migrate",
      memory_mib: MEMORY_MIB,
      runs: portalRuns.length,
      portal_p50_s: +portal_s.toFixed(2),
      baseline_p50_s: +baseline_s.toFixed(2),
      portal_max_s: +Math.max(...portalRuns).toFixed(2),
      baseline_max_s: +Math.max(...baselineRuns).toFixed(2),
      ratio: +(portal_s / baseline_s).toFixed(2),
      storage: STORAGE === "shared" ? "shared pool: memory only" : "disk overlay copied (backing image on shared storage)",
    }),
  );
  const del = await admin("DELETE", `/vms/${vmId}`);
  if (del.status === 202) await waitFor("the portal's guest deleted", async () => ((await admin("GET", `/vms/${vmId}`)).status === 404 ? true : null), 120_000, 500);
} finally {
  await portal?.stop();
  labDown(paths);
  for (const f of scratch) fs.rmSync(f, { force: true });
  await disconnectDb();
}
process.exit(0);
