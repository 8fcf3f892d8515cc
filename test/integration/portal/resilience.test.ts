/**
 * The portal under failure: a worker killed mid-create, a host that accepts connections and never
 * answers. Real PostgreSQL, real libvirt, real guests.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { reconcileQuotas } from "../../../server/jobs/reconciler.ts";
import { domainExists, repoRoot, settle, startPortal, waitFor, type Portal } from "../../support/harness.ts";

let portal: Portal;

beforeAll(async () => {
  process.env.VMDESK_HOST_CALL_TIMEOUT_MS = "2000";
  portal = await startPortal("vmdesk_it_resilience", { background: false });
});
afterAll(async () => {
  await portal?.close();
  delete process.env.VMDESK_HOST_CALL_TIMEOUT_MS;
});

function startWorkerProcess(): ChildProcess {
  return spawn(path.join(repoRoot, "node_modules/.bin/node"), ["--import", "tsx", "server/jobs/worker-main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: portal.url, VMDESK_LOG_LEVEL: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/** Every VM that holds quota has its domain and disk; every other VM has neither. */
async function assertNoOrphans(): Promise<void> {
  const host = await db().host.findUniqueOrThrow({ where: { id: portal.hostId } });
  const vms = await db().vm.findMany({ where: { hostId: portal.hostId }, select: { domainName: true, state: true, quotaHeld: true } });
  for (const vm of vms) {
    const disk = path.join(host.poolPath, `${vm.domainName}.qcow2`);
    const alive = vm.state !== "deleted" && vm.state !== "error";
    expect({ vm: vm.domainName, domain: domainExists(vm.domainName), disk: fs.existsSync(disk) }).toEqual({ vm: vm.domainName, domain: alive, disk: alive });
    expect(vm.quotaHeld).toBe(alive);
  }
  expect(await reconcileQuotas(db())).toEqual([]);
}

describe("resilience", () => {
  it("a worker killed mid-create is resumed after restart: no orphans, quota consistent", async () => {
    const tenant = await portal.newTenant({ vms: 3, vcpus: 3, memoryMiB: 384, diskGiB: 3 });
    const api = portal.caller(tenant);
    const worker = startWorkerProcess();
    try {
      const created = await api.vm.create({ name: "killed-mid-create", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
      // Freeze the worker the moment it has claimed the operation, then kill it: whatever step it
      // was in, the operation is left "running" with a heartbeat that will go stale.
      await waitFor("claim", async () => (await db().operation.findUniqueOrThrow({ where: { id: created.operation.id } })).status === "running", 30_000, 2);
      worker.kill("SIGSTOP");
      const frozen = await db().operation.findUniqueOrThrow({ where: { id: created.operation.id } });
      worker.kill("SIGKILL");
      await new Promise((r) => worker.once("exit", r));
      expect(frozen.status).toBe("running");

      // "Restart the portal": background jobs in this process, with a short stale threshold.
      await portal.startBackground({ staleMs: 2_000 });
      const op = await settle(portal, tenant, created.operation.id, 120_000);
      expect(op.status).toBe("succeeded");
      expect(op.attempts).toBeGreaterThanOrEqual(2);
      expect((await api.vm.get({ id: created.vm.id })).state).toBe("running");
      await assertNoOrphans();

      const del = await api.vm.delete({ id: created.vm.id });
      expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
      await assertNoOrphans();
      expect((await api.auth.quota()).used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
    } finally {
      if (worker.exitCode === null) worker.kill("SIGKILL");
    }
  });

  it("a host that accepts and never answers times out while the local host and the API keep working", async () => {
    const silent = net.createServer(() => undefined); // accepts, never writes
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      if (!portal.background) await portal.startBackground({ staleMs: 30_000 });
      const dead = await portal.caller(portal.admin).host.create({ name: "silent", uri: `qemu+tcp://127.0.0.1:${port}/system`, domainType: "qemu", cpuMode: "none", poolPath: "/var/lib/vmdesk-silent" });
      const deadImage = await portal.caller(portal.admin).image.register({ name: "on-silent-host", path: "/var/lib/vmdesk-silent/base.qcow2", format: "qcow2", minDiskGiB: 1, hostId: dead.id });
      // The host answered until just now (as the monitor last recorded it), so placement still takes
      // it: the create is placed there and then meets a host that no longer answers.
      await db().host.update({ where: { id: dead.id }, data: { state: "connected", lastSeenAt: new Date(), cpus: 2, memoryMiB: 4096, diskFreeGiB: 100 } });
      const tenant = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 2 });
      const api = portal.caller(tenant);

      const stuck = await api.vm.create({ name: "on-dead-host", imageId: deadImage.id, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
      // The monitor marks the host disconnected with the timeout as the reason.
      const hostRow = await waitFor("silent host marked disconnected", async () => {
        const h = await db().host.findUniqueOrThrow({ where: { id: dead.id } });
        return h.state === "disconnected" && h.lastError ? h : null;
      }, 30_000);
      expect(hostRow.lastError).toMatch(/tim(e|ed) ?out/i);

      // Meanwhile the local host works and API reads stay fast.
      const t0 = Date.now();
      const local = await api.vm.create({ name: "on-live-host", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
      const latencies: number[] = [];
      const localOp = await waitFor("local create", async () => {
        const s = Date.now();
        await api.vm.list();
        latencies.push(Date.now() - s);
        const op = await api.operation.get({ id: local.operation.id });
        return op.status === "succeeded" || op.status === "failed" ? op : null;
      }, 60_000, 100);
      expect(localOp.status).toBe("succeeded");
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(Math.max(...latencies)).toBeLessThan(1_000);

      // The operation on the dead host retries, then fails with the timeout; nothing is left half-made in the database.
      const failed = await settle(portal, tenant, stuck.operation.id, 120_000);
      expect(failed.status).toBe("failed");
      expect(failed.error).toMatch(/tim(e|ed) ?out/i);
      const vm = await api.vm.get({ id: stuck.vm.id });
      expect(vm.state).toBe("error");
      expect(vm.stateMessage).toMatch(/creation failed/);

      const del = await api.vm.delete({ id: local.vm.id });
      expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
      await portal.caller(portal.admin).host.update({ id: dead.id, enabled: false });
    } finally {
      silent.close();
    }
  });
});
