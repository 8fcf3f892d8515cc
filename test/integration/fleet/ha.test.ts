/**
 * HA restart with fencing, on two lab hosts sharing their pool (real libvirt daemons over qemu+tls,
 * each with virtlockd holding disk leases in a lockspace on the shared storage, scripts/lab).
 *
 * - Power loss (`lab:hosts -- kill`: every process of the host dies, its leases with it): the HA VM
 *   runs again on the other host, booted from the same disk; the non-HA VM shows `unknown` with the
 *   reason while the host is down, and `stopped` once it is back; the stale definition the host
 *   comes back with is removed by the reconciler, never started.
 * - Daemon loss (`lab:hosts -- kill-daemon`: libvirtd dies, QEMU and virtlockd live on): the
 *   restart on the other host is refused by the disk lease, the VM is marked "fencing required" and
 *   an alert fires; when the daemon is back the VM is running where it always was, nothing was left
 *   on the other host, and the alert resolves.
 *
 * Throughout, a watcher asks every host what runs there (its daemon, or its QEMU processes while the
 * daemon is dead) every 200 ms and records any moment a guest ran on two hosts: there must be none.
 * Both cases alternate HA_TRIALS times (default 10, the count), the HA VM's home swapping
 * hosts with every power loss.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { config } from "../../../server/config.ts";
import { db } from "../../../server/db/client.ts";
import { reconcileOnce } from "../../../server/jobs/reconciler.ts";
import { labKill, labKillDaemon, labUp, type LabHost, type LabPaths } from "../../../scripts/lab/lab-hosts.ts";
import { labSharedPoolPath, registerLabHosts } from "../../../scripts/lab/register.ts";
import { waitFor, type Portal } from "../../support/harness.ts";
import { qemuDomainsOn, startLabFleet, stopLabFleet, watchForDuplicates } from "../../support/lab-fleet.ts";

const TRIALS = Number(process.env.HA_TRIALS ?? 10);
/** The bounds: a dead host is down within 10 s, its HA VMs run elsewhere within 60 s. */
const DETECT_S = 10;
const RESTART_S = 60;

let portal: Portal;
let paths: LabPaths;
let lab: LabHost[] = [];
let imageId = "";
const hostIds = new Map<string, string>();

const vmRow = (id: string) => db().vm.findUniqueOrThrow({ where: { id } });
const labOf = (hostId: string) => lab.find((h) => hostIds.get(h.name) === hostId)!;

async function createOn(hostName: string, name: string, ha: boolean) {
  const admin = portal.caller(portal.admin);
  const created = await admin.vm.create({ name, imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1, hostId: hostIds.get(hostName)! });
  await waitFor(`${name} running`, async () => {
    const vm = await vmRow(created.vm.id);
    return vm.state === "running" && vm.activeOperationId === null ? vm : null;
  }, 120_000, 250);
  if (ha) await admin.vm.setHa({ id: created.vm.id, enabled: true, priority: 50 });
  return created.vm;
}

/** Every domain the host's daemon has defined (running or not). */
function definedOn(host: LabHost): string[] {
  return execFileSync("virsh", ["-q", "-c", host.uri, "list", "--all", "--name"], { encoding: "utf8", timeout: 15_000 }).split("\n").map((s) => s.trim()).filter(Boolean);
}

function serialLog(host: LabHost, domain: string): string {
  try {
    return readFileSync(path.join(host.dir, "log", "qemu", `${domain}-serial.log`), "utf8");
  } catch {
    return "";
  }
}

beforeAll(async () => {
  ({ portal, paths, lab, imageId } = await startLabFleet("vmdesk_it_ha", 2));
  await registerLabHosts(db(), lab, config().hostCredentialsDir, { sharedPoolPath: labSharedPoolPath(paths) });
  for (const h of await db().host.findMany({ where: { name: { in: lab.map((l) => l.name) } } })) hostIds.set(h.name, h.id);
  await waitFor("both lab hosts up with the shared pool", async () => {
    const hosts = await portal.caller(portal.admin).host.list();
    return hosts.filter((h) => h.name.startsWith("lab") && h.state === "up" && h.poolShared).length === 2 ? true : null;
  }, 60_000);
}, 240_000);

afterAll(async () => {
  await stopLabFleet({ portal, paths });
}, 120_000);

describe("HA restart with fencing", () => {
  it("HA needs shared storage: refused with the reason on a host whose pool is not shared", async () => {
    const admin = portal.caller(portal.admin);
    await registerLabHosts(db(), lab, config().hostCredentialsDir);
    try {
      const vm = await db().vm.create({
        data: { name: "unshared", ownerId: portal.admin.id, hostId: hostIds.get("lab1")!, vcpus: 1, memoryMiB: 128, diskGiB: 1, domainName: `vmdesk-${crypto.randomUUID()}`, state: "stopped", quotaHeld: false },
      });
      await expect(admin.vm.setHa({ id: vm.id, enabled: true })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/shared storage/) });
      await db().vm.update({ where: { id: vm.id }, data: { state: "deleted", deletedAt: new Date() } });
    } finally {
      await registerLabHosts(db(), lab, config().hostCredentialsDir, { sharedPoolPath: labSharedPoolPath(paths) });
    }
  });

  it(`power loss restarts the HA VM elsewhere; daemon loss is fenced by the disk lease (${TRIALS} trials each), never two copies`, { timeout: 240_000 + TRIALS * 180_000 }, async () => {
    const ha = await createOn("lab1", "ha-guest", true);
    const plain = await createOn("lab1", "plain-guest", false);
    const domain = ha.domainName;
    const watcher = watchForDuplicates(lab);
    const watchedFrom = Date.now();
    const timings: string[] = [];
    try {
      for (let trial = 1; trial <= TRIALS; trial++) {
        // ---- daemon loss: the guest lives on, its lease held; the restart elsewhere must be refused.
        const home = labOf((await vmRow(ha.id)).hostId);
        const other = lab.find((h) => h !== home)!;
        const t0 = Date.now();
        labKillDaemon(paths, home.name);
        const fenced = await waitFor(`trial ${trial}: fencing required after ${home.name}'s daemon died`, async () => {
          const vm = await vmRow(ha.id);
          return vm.haFencingRequired && vm.activeOperationId === null ? vm : null;
        }, RESTART_S * 1000, 250);
        timings.push(`daemon-loss ${trial}: fenced after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        expect(fenced).toMatchObject({ state: "unknown", hostId: hostIds.get(home.name), targetHostId: null });
        expect(fenced.stateMessage).toMatch(/^fencing required: .*lease/);
        const refused = await db().operation.findFirstOrThrow({ where: { vmId: ha.id, kind: "ha-restart" }, orderBy: { createdAt: "desc" } });
        expect(refused).toMatchObject({ status: "failed" });
        expect(qemuDomainsOn(home)).toContain(domain);
        expect(qemuDomainsOn(other)).not.toContain(domain);
        await waitFor("the fencing alert", async () => db().alert.findFirst({ where: { kind: "vm.fencing_required", openKey: `vm.fencing_required:${ha.id}` } }), 30_000, 250);

        await labUp(paths, 2);
        await waitFor(`trial ${trial}: running on ${home.name} again once its daemon is back`, async () => {
          const vm = await vmRow(ha.id);
          return vm.state === "running" && vm.hostId === hostIds.get(home.name) && !vm.haFencingRequired && vm.haError === null ? vm : null;
        }, 60_000, 250);
        // Nothing of the refused attempt stays on the other host.
        expect(qemuDomainsOn(other)).not.toContain(domain);
        await waitFor("the fencing alert resolved", async () => ((await db().alert.count({ where: { openKey: `vm.fencing_required:${ha.id}` } })) === 0 ? true : null), 30_000, 250);
        await waitFor(`${home.name} up`, async () => ((await db().host.findUniqueOrThrow({ where: { id: hostIds.get(home.name)! } })).state === "connected" ? true : null), 30_000, 250);

        // ---- power loss: the guest and its lease die with the host; the VM runs on the other host.
        const plainHere = (await vmRow(plain.id)).hostId === hostIds.get(home.name);
        const t1 = Date.now();
        labKill(paths, home.name);
        const detected = await waitFor(`trial ${trial}: ${home.name} down`, async () => ((await vmRow(ha.id)).state === "unknown" ? Date.now() : null), DETECT_S * 1000 + 5_000, 100);
        const moved = await waitFor(`trial ${trial}: the HA VM running on ${other.name}`, async () => {
          const vm = await vmRow(ha.id);
          return vm.state === "running" && vm.hostId === hostIds.get(other.name) && vm.activeOperationId === null ? Date.now() : null;
        }, RESTART_S * 1000, 100);
        timings.push(`power-loss ${trial}: down after ${((detected - t1) / 1000).toFixed(1)} s, running on ${other.name} after ${((moved - t1) / 1000).toFixed(1)} s`);
        expect((detected - t1) / 1000).toBeLessThan(DETECT_S);
        expect((moved - t1) / 1000).toBeLessThan(RESTART_S);
        expect(qemuDomainsOn(other)).toContain(domain);
        if (plainHere) {
          const p = await vmRow(plain.id);
          expect(p).toMatchObject({ state: "unknown", hostId: hostIds.get(home.name) });
          expect(p.stateMessage).toMatch(new RegExp(`host ${home.name} has not answered since`));
        }

        // The host comes back cold with the old definition (while the guest boots on the other host):
        // the reconciler removes it; nothing starts it.
        await labUp(paths, 2);
        await waitFor(`${home.name} up again`, async () => ((await db().host.findUniqueOrThrow({ where: { id: hostIds.get(home.name)! } })).state === "connected" ? true : null), 30_000, 250);
        const { domainDrift } = await reconcileOnce(db(), portal.background!.hosts);
        expect(domainDrift[home.name]).toMatchObject({ duplicates: [] });
        // This pass or the periodic one before it (every 60 s) removed the stale definition: both audit what they found.
        const passes = await db().auditEvent.findMany({ where: { action: "system.reconcile", at: { gte: new Date(t1) } }, select: { detail: true } });
        const removed = passes.flatMap((p) => (p.detail as { domainDrift?: Record<string, { strays?: string[] }> }).domainDrift?.[home.name]?.strays ?? []);
        expect(removed).toContain(domain);
        expect(definedOn(home)).not.toContain(domain);
        if (plainHere) await waitFor("the plain VM stopped (its host lost power)", async () => ((await vmRow(plain.id)).state === "stopped" ? true : null), 30_000, 250);
        expect(qemuDomainsOn(home)).not.toContain(domain);
        // The same disk, booted again on the other host.
        await waitFor("the guest booted on the other host", async () => (serialLog(other, domain).includes("vmdesk-demo-ready") ? true : null), 60_000, 250);
        timings.push(`trial ${trial}: ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
      }
    } finally {
      await watcher.stop();
      console.log(`[ha] ${timings.join("; ")}; ${watcher.samples} samples (${watcher.unanswered} dropped: a live daemon silent for 20 s), duplicates ${watcher.duplicates.length}`);
    }
    expect(watcher.duplicates).toEqual([]);
    // The watcher sampled throughout: at least one full sample every 2 s on average.
    expect(watcher.samples).toBeGreaterThan((Date.now() - watchedFrom) / 2_000);
    const audit = await db().auditEvent.findMany({ where: { targetId: ha.id, action: { startsWith: "vm.ha" } }, select: { action: true, result: true } });
    expect(audit).toEqual(expect.arrayContaining([{ action: "vm.ha", result: "ok" }, { action: "vm.ha_restart", result: "ok" }, { action: "vm.ha_fencing_required", result: "error" }]));
  });
});
