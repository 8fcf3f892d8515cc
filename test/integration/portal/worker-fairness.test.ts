/**
 * The worker's claim is fair between requesters: a burst of operations from one user (a teacher's
 * "start all", a tenant's twenty snapshots) does not keep another user's operation queued until the
 * whole burst has been claimed. Real database and the worker's own claim query; no host is called.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../../server/db/client.ts";
import type { HostPool } from "../../../server/hypervisor/host-pool.ts";
import { Worker } from "../../../server/jobs/worker.ts";
import { seedDatabase, type SeededDatabase } from "../../support/harness.ts";

let seeded: SeededDatabase;

beforeAll(async () => {
  seeded = await seedDatabase("vmdesk_it_worker_fairness");
}, 120_000);

afterAll(async () => {
  await disconnectDb();
});

describe("worker claim", () => {
  it("takes the oldest operation of the requester with the fewest running, so a burst does not starve others", async () => {
    const tenant = await db().user.create({ data: { username: "fair-tenant", passwordHash: "x" } });
    const t0 = Date.now() - 60_000;
    const queued = (requestedById: string | null, i: number) =>
      db().operation.create({ data: { kind: "start", requestedById, createdAt: new Date(t0 + i), runAfter: new Date(t0) } });
    const burst = [];
    for (let i = 0; i < 10; i++) burst.push(await queued(seeded.admin.id, i));
    const single = await queued(tenant.id, 100);
    const portal = await queued(null, 101);

    const worker = new Worker({ db: db(), hosts: {} as HostPool, concurrency: 1, defaultShutdownTimeoutS: 60, workerId: "fairness-test" });
    const claimed: string[] = [];
    for (let i = 0; i < 5; i++) claimed.push((await worker.claim())!.id);
    // The burst's first (everyone has 0 running; it is the oldest), then the tenant's and the
    // portal's (0 running each, against the burst's 1), then the burst again, oldest first.
    expect(claimed).toEqual([burst[0]!.id, single.id, portal.id, burst[1]!.id, burst[2]!.id]);
    const rows = await db().operation.findMany({ where: { id: { in: claimed } } });
    expect(rows.every((r) => r.status === "running" && r.lockedBy === "fairness-test" && r.attempts === 1)).toBe(true);
    expect(await db().operation.count({ where: { status: "queued" } })).toBe(7);
  });
});
