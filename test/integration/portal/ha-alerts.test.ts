/**
 * HA alerts without waiting for a metrics interval: the leader runs AlertEvaluator.evaluateHa after
 * every one-second HA pass, so a VM marked "fencing required" (or whose restart failed) raises its
 * alert at once and the alert resolves as soon as the VM row is clear again. Passes never overlap:
 * full and HA passes racing each other open one alert, not a unique-key error. Real database, rows
 * written as the HA restart leaves them; no guest needed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../../server/db/client.ts";
import { AlertEvaluator } from "../../../server/jobs/alerts.ts";
import { seedDatabase, type SeededDatabase } from "../../support/harness.ts";

let seeded: SeededDatabase;
const clock = { now: () => new Date() };

beforeAll(async () => {
  seeded = await seedDatabase("vmdesk_it_ha_alerts");
}, 120_000);

afterAll(async () => {
  await disconnectDb();
});

async function haVm(name: string) {
  return db().vm.create({
    data: { name, ownerId: seeded.admin.id, hostId: seeded.hostId, vcpus: 1, memoryMiB: 128, diskGiB: 1, domainName: `vmdesk-${crypto.randomUUID()}`, state: "unknown", quotaHeld: false, ha: true },
  });
}

const openAlerts = (key: string) => db().alert.findMany({ where: { openKey: key } });

describe("HA alerts", () => {
  it("a refused restart's alert fires on the HA pass and resolves when the row is clear; racing passes open it once", async () => {
    const evaluator = new AlertEvaluator(db(), clock, 10_000, { url: undefined, secret: undefined });
    const fenced = await haVm("fenced");
    const failed = await haVm("failed");
    await db().vm.update({ where: { id: fenced.id }, data: { haFencingRequired: true, haError: "fencing required: the disk lease is still held" } });
    await db().vm.update({ where: { id: failed.id }, data: { haError: "no host can take it" } });

    // Every pass at once, as the HA tick and the metrics timer can meet: none fails, one alert each.
    const results = await Promise.allSettled([evaluator.evaluateOnce(), evaluator.evaluateHa(), evaluator.evaluateOnce(), evaluator.evaluateHa(), evaluator.evaluateHa()]);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await openAlerts(`vm.fencing_required:${fenced.id}`)).toHaveLength(1);
    expect(await openAlerts(`vm.ha_failed:${failed.id}`)).toEqual([expect.objectContaining({ kind: "vm.ha_failed", message: expect.stringMatching(/HA restart failed: no host can take it/) })]);

    // The VM runs again (the monitor clears the row): the HA pass alone resolves its alert.
    await db().vm.update({ where: { id: fenced.id }, data: { haFencingRequired: false, haError: null, state: "running" } });
    await evaluator.evaluateHa();
    expect(await openAlerts(`vm.fencing_required:${fenced.id}`)).toEqual([]);
    const resolved = await db().alert.findFirstOrThrow({ where: { kind: "vm.fencing_required", subject: "VM fenced" } });
    expect(resolved).toMatchObject({ state: "resolved", openKey: null });
    expect(await openAlerts(`vm.ha_failed:${failed.id}`)).toHaveLength(1);
    expect(await db().auditEvent.count({ where: { action: "alert.fire" } })).toBe(2);
  });
});
