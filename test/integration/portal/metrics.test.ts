/**
 * Host and VM metrics from a real guest: the leader's collector reads the host in one bulk call per
 * round (every 2 s here), and a guest running a busy loop on its serial console shows high CPU in
 * its own series within 30 s; the host's series carries CPU, memory and the running guests. Owners
 * read their VM's series, other tenants get 404 and only admins read a host's. The rollup turns raw
 * readings into 5-minute averages once and drops what is past retention.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { systemClock } from "../../../server/jobs/clock.ts";
import { MetricsCollector, ROLLUP_STEP_S } from "../../../server/jobs/metrics-collector.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { bootedGuest, deleteQuietly, runOnSerial, type LocalGuest } from "../../support/guest-serial.ts";
import { startPortal, waitFor, type Portal } from "../../support/harness.ts";

let portal: Portal;
let tenant: AuthenticatedUser;
let vm: LocalGuest | null = null;

beforeAll(async () => {
  process.env.VMDESK_METRICS_INTERVAL_MS = "2000";
  portal = await startPortal("vmdesk_it_metrics");
  tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
}, 120_000);

afterAll(async () => {
  await deleteQuietly(portal, tenant, vm);
  await portal?.close();
  delete process.env.VMDESK_METRICS_INTERVAL_MS;
}, 120_000);

describe("metrics", () => {
  it("a guest busy-looping on its serial console shows high CPU within 30 s; the host's series has CPU, memory and guests", { timeout: 240_000 }, async () => {
    const api = portal.caller(tenant);
    vm = await bootedGuest(portal, tenant, "busy");
    // Idle first: a booted busybox guest uses little of its vCPU.
    await new Promise((r) => setTimeout(r, 5_000));
    const idle = await waitFor("idle readings", async () => {
      const m = await api.vm.metrics({ id: vm!.id, from: new Date(Date.now() - 6_000) });
      return m.points.length > 0 ? m.points : null;
    }, 20_000, 500);
    const idleCpu = Math.min(...idle.map((p) => p.cpuPct));

    await runOnSerial(vm.domainName, "(while :; do :; done) & true", "vmdesk-busy-started", 30_000);
    const t0 = Date.now();
    const busy = await waitFor("high CPU in the VM's series", async () => {
      const m = await api.vm.metrics({ id: vm!.id, from: new Date(Date.now() - 60_000) });
      const last = m.points.at(-1);
      return last && last.at.getTime() > t0 && last.cpuPct > 50 ? m : null;
    }, 30_000, 500);
    console.log(`[metrics] idle ${idleCpu.toFixed(1)} % → busy ${busy.points.at(-1)!.cpuPct.toFixed(1)} % after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(idleCpu).toBeLessThan(50);
    expect(busy).toMatchObject({ vm: { id: vm.id, vcpus: 1, memoryMiB: 128 }, source: "raw" });
    expect(busy.points.at(-1)!.memoryMiB).toBeGreaterThan(64);
    expect(busy.points.at(-1)!.rssMiB).toBeGreaterThan(0);

    const admin = portal.caller(portal.admin);
    const host = await admin.host.metrics({ id: portal.hostId, from: new Date(Date.now() - 30_000) });
    const lastHost = host.points.at(-1)!;
    expect(lastHost.cpuPct).toBeGreaterThan(0);
    expect(lastHost.memoryTotalMiB).toBeGreaterThan(256);
    expect(lastHost.memoryUsedMiB).toBeLessThanOrEqual(lastHost.memoryTotalMiB);
    expect(lastHost.vmCount).toBeGreaterThanOrEqual(1);

    // Another tenant cannot tell the VM exists; a tenant reads no host.
    const stranger = await portal.newTenant({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
    await expect(portal.caller(stranger).vm.metrics({ id: vm.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(api.host.metrics({ id: portal.hostId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    // Bounded: too many points for the window is refused with the step to use.
    await expect(api.vm.metrics({ id: vm.id, from: new Date(Date.now() - 86_400_000), step: 1 })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("at most 2000 points") });
  });

  it("rolls raw readings up into 5-minute averages once, and drops rows past retention", async () => {
    const hostId = "00000000-0000-4000-8000-00000000abcd";
    const now = Date.now();
    const bucket = Math.floor((now - 20 * 60_000) / (ROLLUP_STEP_S * 1000)) * ROLLUP_STEP_S * 1000;
    const raw = (at: number, cpuPct: number) => ({ hostId, at: new Date(at), step: 10, cpuPct, memoryUsedMiB: 100, memoryTotalMiB: 1000, diskFreeGiB: 5, vmCount: 2 });
    await db().hostMetric.createMany({
      data: [raw(bucket + 10_000, 10), raw(bucket + 20_000, 30), raw(bucket + 290_000, 50), raw(now - 30 * 3_600_000, 99)],
    });
    await db().hostMetric.create({ data: { ...raw(now - 40 * 86_400_000, 1), step: ROLLUP_STEP_S } });
    const collector = new MetricsCollector(db(), portal.background!.hosts, systemClock, 2_000, { rawHours: 24, rollupDays: 30 });
    await collector.rollup();
    await collector.rollup();
    const rows = await db().hostMetric.findMany({ where: { hostId }, orderBy: [{ step: "asc" }, { at: "asc" }] });
    const oldBucket = Math.floor((now - 30 * 3_600_000) / (ROLLUP_STEP_S * 1000)) * ROLLUP_STEP_S * 1000;
    // The 30-hour-old reading is averaged before its raw row goes (past 24 h); the 40-day-old average is gone.
    expect(rows.map((r) => [r.step, r.at.getTime(), r.cpuPct])).toEqual([
      [10, bucket + 10_000, 10],
      [10, bucket + 20_000, 30],
      [10, bucket + 290_000, 50],
      [ROLLUP_STEP_S, oldBucket, 99],
      [ROLLUP_STEP_S, bucket, 30],
    ]);
  });
});
