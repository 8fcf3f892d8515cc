/**
 * Load balancing on two lab hosts (real libvirt daemons, scripts/lab): two guests on lab1 spin a busy
 * loop typed on their serial consoles, so lab1's guest load (their CPU over its CPUs) stays above the
 * policy's 60 %. With the policy on, the balancer live-migrates one of them to lab2 (where it fits
 * under the threshold), audits it, and then stops: lab1 is under the threshold, and host and VM rest
 * for the cooldown. Off by default: nothing moves before the policy is enabled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import type { LabHost, LabPaths } from "../../../scripts/lab/lab-hosts.ts";
import { waitFor, type Portal } from "../../support/harness.ts";
import { startLabFleet, stopLabFleet, typeOnSerial } from "../../support/lab-fleet.ts";
import { readFileSync } from "node:fs";
import path from "node:path";

let portal: Portal;
let paths: LabPaths;
let lab: LabHost[] = [];
let imageId = "";

const balanceOps = () => db().operation.findMany({ where: { kind: "migrate", params: { path: ["reason"], equals: "balance" } }, orderBy: { createdAt: "asc" } });
const booted = (host: LabHost, domain: string) => {
  try {
    return readFileSync(path.join(host.dir, "log", "qemu", `${domain}-serial.log`), "utf8").includes("vmdesk-demo-ready");
  } catch {
    return false;
  }
};

beforeAll(async () => {
  // Readings every 2 s, so a 10 s window fills quickly.
  process.env.VMDESK_METRICS_INTERVAL_MS = "2000";
  ({ portal, paths, lab, imageId } = await startLabFleet("vmdesk_it_balance", 2));
}, 240_000);

afterAll(async () => {
  await stopLabFleet({ portal, paths });
  delete process.env.VMDESK_METRICS_INTERVAL_MS;
}, 120_000);

describe("load balancing", () => {
  it("moves one VM off a busy host to where it fits, audits it, and stops", { timeout: 420_000 }, async () => {
    const admin = portal.caller(portal.admin);
    const hosts = await admin.host.list();
    const [lab1, lab2] = [hosts.find((h) => h.name === "lab1")!, hosts.find((h) => h.name === "lab2")!];
    expect((await admin.host.loadBalancing()).policies).toEqual([]);

    const vms = [];
    for (const name of ["busy-a", "busy-b"]) vms.push((await admin.vm.create({ name, imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1, hostId: lab1.id })).vm);
    for (const vm of vms) {
      await waitFor(`${vm.name} booted`, async () => booted(lab[0]!, vm.domainName) || null, 180_000, 500);
      await typeOnSerial(lab[0]!, vm.domainName, "while :; do :; done &");
    }
    // Off by default: a busy host keeps its VMs (four balancer rounds at the 2 s interval).
    await new Promise((r) => setTimeout(r, 8_000));
    expect(await balanceOps()).toEqual([]);

    await admin.host.setLoadBalancing({ policies: [{ group: null, enabled: true, cpuAbovePct: 60, windowS: 10, cooldownS: 600, maxMovesPerRound: 1 }] });
    const [op] = await waitFor("a balancing move", async () => {
      const ops = await balanceOps();
      return ops.length > 0 ? ops : null;
    }, 120_000, 500);
    expect(op!.requestedById).toBeNull();
    expect((op!.params as { destHostId: string }).destHostId).toBe(lab2.id);
    const done = await waitFor("the move finished", async () => {
      const o = await db().operation.findUniqueOrThrow({ where: { id: op!.id } });
      return o.status === "succeeded" || o.status === "failed" ? o : null;
    }, 180_000, 500);
    expect(done.status).toBe("succeeded");
    const moved = await db().vm.findUniqueOrThrow({ where: { id: op!.vmId! } });
    expect(moved).toMatchObject({ hostId: lab2.id, state: "running" });
    const audit = await db().auditEvent.findFirstOrThrow({ where: { action: "vm.rebalance", targetId: moved.id } });
    expect(audit.detail).toMatchObject({ from: "lab1", to: "lab2", thresholdPct: 60 });
    expect((audit.detail as { hostLoadPct: number }).hostLoadPct).toBeGreaterThan(60);

    // And it stops: one VM per host now, each under the threshold; nothing else moves (a window and
    // more of balancer rounds).
    await new Promise((r) => setTimeout(r, 15_000));
    expect((await balanceOps()).map((o) => o.id)).toEqual([op!.id]);

    for (const vm of vms) await admin.vm.poweroff({ id: vm.id });
  });
});
