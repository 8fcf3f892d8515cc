/**
 * Live migration through the portal between two lab hosts (real libvirt daemons over qemu+tls,
 * peer to peer, scripts/lab): a running guest that prints a counter on its serial console every
 * second moves to the other host with its disk, and the counter carries on there without a reboot;
 * the VM's row names the new host, the old host keeps nothing. A tenant may not migrate; a VM that
 * is not running is refused with 412. A host put in maintenance drains to empty (a stopped VM is
 * listed with why it stays) and takes no new VMs until maintenance ends. Between hosts that share
 * their pool (the lab's shared storage, declared shared) only the memory moves.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { config } from "../../../server/config.ts";
import { db } from "../../../server/db/client.ts";
import type { LabHost, LabPaths } from "../../../scripts/lab/lab-hosts.ts";
import { labSharedPoolPath, registerLabHosts } from "../../../scripts/lab/register.ts";
import { waitFor, type Portal } from "../../support/harness.ts";
import { startLabFleet, stopLabFleet, typeOnSerial } from "../../support/lab-fleet.ts";

let portal: Portal;
let paths: LabPaths;
let lab: LabHost[] = [];
let imageId = "";

const serialLog = (host: LabHost, domain: string) => path.join(host.dir, "log", "qemu", `${domain}-serial.log`);
const readLog = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");
const ticks = (text: string) => [...text.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));

function domainsOn(host: LabHost): string[] {
  return execFileSync("virsh", ["-c", host.uri, "list", "--all", "--name"], { encoding: "utf8", timeout: 15_000 })
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("vmdesk-"));
}

/** A VM created on `hostId` (lab1), booted, with a shell loop printing "tick N" every second on its serial console. */
async function guestCountingOn(hostId: string): Promise<{ vmId: string; domain: string; before: string }> {
  const admin = portal.caller(portal.admin);
  const created = await admin.vm.create({ name: "mover", imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1, hostId });
  const domain = created.vm.domainName;
  await waitFor("the VM running on lab1", async () => {
    const vm = await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } });
    return vm.state === "running" && vm.activeOperationId === null ? vm : null;
  }, 120_000, 500);
  const before = serialLog(lab[0]!, domain);
  await waitFor("the guest's login shell", async () => (readLog(before).includes("vmdesk-demo-ready") ? true : null), 60_000, 250);
  // Seen by the portal too (the console stream of a remote host).
  await waitFor("the guest ready", async () => (await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } })).guestReadyAt, 60_000, 250);
  await new Promise((r) => setTimeout(r, 1_000));
  await typeOnSerial(lab[0]!, domain, 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 1; done &');
  await waitFor("the counter ticking on lab1", async () => (ticks(readLog(before)).some((n) => n >= 3) ? true : null), 30_000, 250);
  return { vmId: created.vm.id, domain, before };
}

/** Migrates through the portal (destination pinned, or "auto": placement's choice, expected to be `destHostId`). */
async function migrateAndCheck(vmId: string, destHostId: string, pin: "auto" | "pinned"): Promise<void> {
  const admin = portal.caller(portal.admin);
  const readyAt = (await db().vm.findUniqueOrThrow({ where: { id: vmId } })).guestReadyAt;
  const t0 = Date.now();
  const { operation } = await admin.vm.migrate(pin === "auto" ? { id: vmId } : { id: vmId, hostId: destHostId });
  expect(operation.kind).toBe("migrate");
  expect((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).targetHostId).toBe(destHostId);
  const done = await waitFor("the migration finished", async () => {
    const op = await db().operation.findUniqueOrThrow({ where: { id: operation.id } });
    return op.status === "succeeded" || op.status === "failed" ? op : null;
  }, 180_000, 1000);
  console.log(`[migration] ${((Date.now() - t0) / 1000).toFixed(1)} s through the portal, attempts ${done.attempts}`);
  expect(done).toMatchObject({ status: "succeeded", error: null, progress: 100 });
  // The same guest, still booted: the moment it was first seen ready stays (not "booting" again).
  expect(await db().vm.findUniqueOrThrow({ where: { id: vmId } })).toMatchObject({ hostId: destHostId, targetHostId: null, state: "running", guestReadyAt: readyAt });
}

/** The shell loop goes on on lab2 from where it was on lab1: the same guest, not rebooted. */
async function counterCarriesOn(domain: string, before: string): Promise<void> {
  const lastOnLab1 = Math.max(...ticks(readLog(before)));
  const after = serialLog(lab[1]!, domain);
  await waitFor("the counter ticking on lab2", async () => (ticks(readLog(after)).some((n) => n >= lastOnLab1 + 3) ? true : null), 30_000, 250);
  const onLab2 = ticks(readLog(after));
  expect(readLog(after)).not.toContain("vmdesk-demo-ready");
  expect(onLab2[0]).toBeGreaterThan(lastOnLab1 - 3);
  expect(onLab2[0]).toBeLessThanOrEqual(lastOnLab1 + 2);
}

beforeAll(async () => {
  ({ portal, paths, lab, imageId } = await startLabFleet("vmdesk_it_migration", 2));
}, 180_000);

afterAll(async () => {
  await stopLabFleet({ portal, paths });
}, 120_000);

describe("live migration", () => {
  it("moves a running guest with its disk; its serial counter carries on without a reboot", { timeout: 300_000 }, async () => {
    const admin = portal.caller(portal.admin);
    const hosts = await admin.host.list();
    const [lab1, lab2] = [hosts.find((h) => h.name === "lab1")!, hosts.find((h) => h.name === "lab2")!];
    const { vmId, domain, before } = await guestCountingOn(lab1.id);

    // Refusals first: a tenant may not migrate, a pinned host must be another one.
    const tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 256, diskGiB: 1 });
    await expect(portal.caller(tenant).vm.migrate({ id: vmId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(admin.vm.migrate({ id: vmId, hostId: lab1.id })).rejects.toMatchObject({ code: "BAD_REQUEST" });

    await migrateAndCheck(vmId, lab2.id, "auto");
    expect(domainsOn(lab[0]!)).toEqual([]);
    expect(domainsOn(lab[1]!)).toEqual([domain]);
    // The guest keeps its CPU weight across the move (the default 1024: the portal leaves started
    // guests' weights alone, see DEFAULT_RUNNING_WEIGHT_DIVISOR).
    expect(execFileSync("virsh", ["-c", lab[1]!.uri, "schedinfo", domain], { encoding: "utf8", timeout: 10_000 })).toMatch(/cpu_shares\s*:\s*1024\b/);
    await counterCarriesOn(domain, before);

    await admin.vm.delete({ id: vmId });
    await waitFor("the VM deleted", async () => ((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).deletedAt ? true : null), 120_000, 500);
    expect(domainsOn(lab[1]!)).toEqual([]);
  });

  it("refuses a VM that is not running (412) and one no other host can take (409)", async () => {
    const admin = portal.caller(portal.admin);
    const hosts = await admin.host.list();
    const lab1 = hosts.find((h) => h.name === "lab1")!;
    const created = await admin.vm.create({ name: "stayer", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, hostId: lab1.id });
    await waitFor("the VM running", async () => {
      const vm = await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } });
      return vm.state === "running" && vm.activeOperationId === null ? vm : null;
    }, 120_000, 500);
    const lab2 = hosts.find((h) => h.name === "lab2")!;
    await db().host.update({ where: { id: lab2.id }, data: { enabled: false } });
    await expect(admin.vm.migrate({ id: created.vm.id })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining('host "lab2" is disabled') });
    await db().host.update({ where: { id: lab2.id }, data: { enabled: true } });
    await admin.vm.poweroff({ id: created.vm.id });
    await waitFor("the VM stopped", async () => {
      const vm = await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } });
      return vm.state === "stopped" && vm.activeOperationId === null ? vm : null;
    }, 60_000, 500);
    await expect(admin.vm.migrate({ id: created.vm.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await admin.vm.delete({ id: created.vm.id });
    await waitFor("the VM deleted", async () => ((await db().vm.findUniqueOrThrow({ where: { id: created.vm.id } })).deletedAt ? true : null), 120_000, 500);
  });

  it("a host in maintenance drains: running VMs move away, a stopped one is listed, nothing new lands", { timeout: 300_000 }, async () => {
    const admin = portal.caller(portal.admin);
    const hosts = await admin.host.list();
    const [lab1, lab2] = [hosts.find((h) => h.name === "lab1")!, hosts.find((h) => h.name === "lab2")!];
    const vms: Array<{ id: string; domainName: string }> = [];
    for (const name of ["drain-a", "drain-b", "drain-stopped"]) vms.push((await admin.vm.create({ name, imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, hostId: lab1.id })).vm);
    const idle = async (id: string, state: string) =>
      waitFor(`VM ${id} ${state}`, async () => {
        const vm = await db().vm.findUniqueOrThrow({ where: { id } });
        return vm.state === state && vm.activeOperationId === null ? vm : null;
      }, 120_000, 500);
    for (const vm of vms) await idle(vm.id, "running");
    const stopped = vms[2]!;
    await admin.vm.poweroff({ id: stopped.id });
    await idle(stopped.id, "stopped");

    const drain = await admin.host.maintenance({ id: lab1.id, enabled: true });
    expect(drain.queued.map((q) => [q.name, q.to]).sort()).toEqual([["drain-a", "lab2"], ["drain-b", "lab2"]]);
    expect(drain.staying).toEqual([{ vmId: stopped.id, name: "drain-stopped", reason: expect.stringContaining("stopped") }]);
    // Asking again while they move queues nothing twice.
    const again = await admin.host.maintenance({ id: lab1.id, enabled: true });
    expect(again.queued).toEqual([]);
    expect(again.moving.length + again.staying.length).toBe(3);
    expect((await admin.host.list()).find((h) => h.id === lab1.id)).toMatchObject({ state: "maintenance" });

    // While in maintenance, placement sends new VMs elsewhere (and refuses a pin on it).
    const fresh = await admin.vm.create({ name: "drain-new", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    expect(fresh.vm.host.name).toBe("lab2");
    await expect(admin.vm.create({ name: "drain-pinned", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, hostId: lab1.id })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining('host "lab1" is in maintenance'),
    });

    await waitFor("lab1 drained of running VMs", async () => {
      const h = (await admin.host.list()).find((x) => x.id === lab1.id)!;
      return h.vmCount === 1 && h.migratingAway === 0 ? h : null;
    }, 180_000, 1000);
    for (const vm of vms.slice(0, 2)) expect(await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).toMatchObject({ hostId: lab2.id, state: "running" });
    expect(domainsOn(lab[0]!)).toEqual([stopped.domainName]);

    await admin.host.maintenance({ id: lab1.id, enabled: false });
    expect((await admin.host.list()).find((h) => h.id === lab1.id)).toMatchObject({ state: "up" });

    for (const vm of [...vms, fresh.vm]) await idle(vm.id, vm.id === stopped.id ? "stopped" : "running");
    for (const vm of [...vms, fresh.vm]) await admin.vm.delete({ id: vm.id });
    await waitFor("the drain test's VMs deleted", async () => ((await db().vm.count({ where: { id: { in: [...vms, fresh.vm].map((v) => v.id) }, deletedAt: null } })) === 0 ? true : null), 120_000, 500);
  });
  it("between hosts sharing their pool moves memory only: the disk stays one file, the counter carries on", { timeout: 300_000 }, async () => {
    const poolDir = labSharedPoolPath(paths);
    await registerLabHosts(db(), lab, config().hostCredentialsDir, { sharedPoolPath: poolDir });
    try {
      const admin = portal.caller(portal.admin);
      const hosts = await admin.host.list();
      const [lab1, lab2] = [hosts.find((h) => h.name === "lab1")!, hosts.find((h) => h.name === "lab2")!];
      expect([lab1, lab2].map((h) => [h.poolPath, h.poolShared])).toEqual([[poolDir, true], [poolDir, true]]);
      const { vmId, domain, before } = await guestCountingOn(lab1.id);
      const disk = path.join(poolDir, `${domain}.qcow2`);
      const sourceOf = (host: LabHost) => {
        const xml = execFileSync("virsh", ["-c", host.uri, "dumpxml", domain], { encoding: "utf8", timeout: 10_000 });
        return { file: /<source file='([^']+)'/.exec(xml)?.[1], cache: /<driver name='qemu' type='qcow2' cache='(\w+)'/.exec(xml)?.[1] };
      };
      // O_DIRECT on shared storage: the destination must not read the disk through a stale page cache.
      expect(sourceOf(lab[0]!)).toEqual({ file: disk, cache: "none" });
      const inode = statSync(disk).ino;

      await migrateAndCheck(vmId, lab2.id, "pinned");
      // The same file, neither copied nor removed: only memory moved.
      expect(sourceOf(lab[1]!)).toEqual({ file: disk, cache: "none" });
      expect(statSync(disk).ino).toBe(inode);
      expect(domainsOn(lab[0]!)).toEqual([]);
      await counterCarriesOn(domain, before);

      // lab2's pool lists the disk lab1 created: deleting the VM there deletes the file.
      await admin.vm.delete({ id: vmId });
      await waitFor("the VM deleted", async () => ((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).deletedAt ? true : null), 120_000, 500);
      expect(domainsOn(lab[1]!)).toEqual([]);
      expect(existsSync(disk)).toBe(false);
    } finally {
      await registerLabHosts(db(), lab, config().hostCredentialsDir);
    }
  });
});
