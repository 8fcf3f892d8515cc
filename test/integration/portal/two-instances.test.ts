/**
 * Scale-out with two real portal processes (server/main.ts, each with its in-process worker) on one
 * PostgreSQL database and one NEXTAUTH_SECRET, driving the local libvirt host:
 * - operations requested through both portals at once each run exactly once (one claim, one attempt,
 *   one domain), creates and deletes alike;
 * - a browser session's live stream (tRPC SSE `live.vms`) on either portal receives a state change
 *   made through the other one, well before its own periodic re-read could have carried it;
 * - SIGKILL of the process holding the leader lock: the other takes the lock and does the host
 *   monitoring within 15 s (a domain destroyed behind the portals' back after the kill shows up as
 *   stopped in the database and in the survivor's stream).
 * Which process leads is observed, not asked: each process connects with its own PGAPPNAME, so the
 * holder of the advisory lock is named in pg_locks ⋈ pg_stat_activity.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import superjson from "superjson";
import { db, disconnectDb } from "../../../server/db/client.ts";
import { LEADER_LOCK_KEY } from "../../../server/jobs/background.ts";
import { domainExists, seedDatabase, virsh, waitFor, type SeededDatabase } from "../../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../../support/server.ts";

type Name = "a" | "b";
const APP_NAME: Record<Name, string> = { a: "vmdesk-two-portals-a", b: "vmdesk-two-portals-b" };
const VMS = 4;
/** live.ts re-reads a quiet stream every 15 s: a change seen sooner than that came by NOTIFY. */
const LIVE_BUDGET_MS = 10_000;
const FAILOVER_BUDGET_MS = 15_000;

interface VmSummary {
  id: string;
  state: string;
}

interface LiveStream {
  snapshots: Array<{ at: number; vms: VmSummary[] }>;
  close(): void;
}

let seeded: SeededDatabase;
const portals = {} as Record<Name, RunningPortal>;
let token: string;
let cookie: string;
const vmIds: string[] = [];
const domainNames: string[] = [];
const streams: LiveStream[] = [];

const other = (n: Name): Name => (n === "a" ? "b" : "a");
const api = (n: Name) => restClient(portals[n].baseUrl, token);

/** Which portal holds the leader lock in this database (null: nobody). */
async function leader(): Promise<Name | null> {
  const rows = await db().$queryRaw<Array<{ app: string }>>`
    SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND (l.classid::bigint << 32) + l.objid::bigint = ${LEADER_LOCK_KEY}::bigint`;
  const app = rows[0]?.app;
  return app === APP_NAME.a ? "a" : app === APP_NAME.b ? "b" : null;
}

/** Signs in like a browser (next-auth credentials) on `portal`; the cookie is good on both portals. */
async function browserSignIn(portal: RunningPortal, username: string, password: string): Promise<string> {
  const csrf = await fetch(`${portal.baseUrl}/api/auth/csrf`);
  const csrfCookie = csrf.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const res = await fetch(`${portal.baseUrl}/api/auth/callback/credentials`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: csrfCookie },
    body: new URLSearchParams({ csrfToken, username, password, json: "true" }),
  });
  const session = res.headers.getSetCookie().map((c) => c.split(";")[0] ?? "").find((c) => c.startsWith("next-auth.session-token="));
  expect(session, `${username} signs in`).toBeTruthy();
  return `${csrfCookie}; ${session}`;
}

/** The browser's live list (tRPC subscription over SSE), with every snapshot it receives. */
async function openLiveStream(portal: RunningPortal): Promise<LiveStream> {
  const abort = new AbortController();
  const res = await fetch(`${portal.baseUrl}/api/trpc/live.vms`, {
    headers: { cookie, origin: portal.baseUrl, accept: "text/event-stream" },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const stream: LiveStream = { snapshots: [], close: () => abort.abort() };
  streams.push(stream);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        // Named events (connected, ping, return, errors) carry no snapshot.
        if (lines.some((l) => l.startsWith("event:"))) continue;
        const data = lines.find((l) => l.startsWith("data: "));
        if (data) stream.snapshots.push({ at: Date.now(), vms: superjson.deserialize(JSON.parse(data.slice(6))) });
      }
    }
  })().catch(() => undefined);
  return stream;
}

/** When `stream` first showed `vmId` in `state` at or after `since` (waits up to `ms`). */
function seenAt(stream: LiveStream, vmId: string, state: string, since: number, ms: number): Promise<number> {
  return waitFor(
    `live stream to show ${vmId} ${state}`,
    async () => stream.snapshots.find((s) => s.at >= since && s.vms.find((v) => v.id === vmId)?.state === state)?.at,
    ms,
    50,
  );
}

/** Waits for operations to finish; notes every worker seen holding each of them meanwhile. */
async function settleAll(operationIds: string[], holders: Map<string, Set<string>>, ms = 150_000) {
  return waitFor(
    `${operationIds.length} operations`,
    async () => {
      const ops = await db().operation.findMany({ where: { id: { in: operationIds } } });
      for (const op of ops) if (op.lockedBy) holders.set(op.id, (holders.get(op.id) ?? new Set()).add(op.lockedBy));
      return ops.every((o) => o.status === "succeeded" || o.status === "failed") ? ops : null;
    },
    ms,
    100,
  );
}

/** The portal (a or b) whose worker id (`host:pid:random`) this is. */
function workerPortal(workerId: string): Name | "?" {
  const pid = Number(workerId.split(":")[1]);
  return pid === portals.a.process.pid ? "a" : pid === portals.b.process.pid ? "b" : "?";
}

beforeAll(async () => {
  seeded = await seedDatabase("vmdesk_it_two_portals");
  const secret = randomBytes(24).toString("hex");
  // One after the other: two Next start-ups at once only compete for the same two cores.
  for (const n of ["a", "b"] as const) portals[n] = await startPortalServer(seeded.url, { NEXTAUTH_SECRET: secret, PGAPPNAME: APP_NAME[n] });

  const anon = restClient(portals.a.baseUrl);
  const adminToken = (await anon("POST", "/auth/token", { username: "admin", password: "admin-password-1" })).body.token as string;
  const admin = restClient(portals.b.baseUrl, adminToken);
  const tenant = await admin("POST", "/users", { username: "twoportals", password: "tenant-password-1", role: "tenant" });
  expect(tenant.status).toBe(201);
  expect((await admin("PUT", `/users/${tenant.body.id}/quota`, { vms: VMS, vcpus: VMS, memoryMiB: 96 * VMS, diskGiB: VMS })).status).toBe(200);
  // One token for both, as a client behind a load balancer has (a second sign-in of the same client replaces it).
  const signedIn = await restClient(portals.b.baseUrl)("POST", "/auth/token", { username: "twoportals", password: "tenant-password-1" });
  expect(signedIn.status).toBe(201);
  token = signedIn.body.token;
  cookie = await browserSignIn(portals.a, "twoportals", "tenant-password-1");
});

afterAll(async () => {
  for (const s of streams) s.close();
  // Every VM of this test's own database: undeleted ones go through a portal still alive (disk and
  // quota too); virsh below catches whatever is left.
  const vms = seeded ? await db().vm.findMany({ select: { id: true, domainName: true, deletedAt: true, activeOperationId: true } }) : [];
  const alive = (["a", "b"] as const).find((n) => portals[n] && portals[n].process.exitCode === null && portals[n].process.signalCode === null);
  if (alive && token) {
    const ops: string[] = [];
    for (const vm of vms.filter((v) => v.deletedAt === null)) {
      if (vm.activeOperationId) await settleAll([vm.activeOperationId], new Map(), 60_000).catch(() => undefined);
      const del = await api(alive)("DELETE", `/vms/${vm.id}`).catch(() => null);
      if (del?.status === 202) ops.push(del.body.operation.id);
    }
    await settleAll(ops, new Map(), 60_000).catch(() => undefined);
  }
  await Promise.all((["a", "b"] as const).map((n) => portals[n]?.stop()));
  for (const { domainName } of vms) {
    if (!domainExists(domainName)) continue;
    for (const cmd of ["destroy", "undefine"]) {
      try {
        virsh(cmd, domainName);
      } catch {
        // already off / already gone
      }
    }
  }
  await disconnectDb();
});

describe("two portal processes on one database", () => {
  it("each operation requested through either portal runs exactly once", async () => {
    expect(await waitFor("a leader", leader, 15_000, 100)).toMatch(/^[ab]$/);

    const created = await Promise.all(
      Array.from({ length: VMS }, (_, i) => {
        const via: Name = i % 2 === 0 ? "a" : "b";
        return api(via)("POST", "/vms", { name: `two-${i}-via-${via}`, imageId: seeded.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
      }),
    );
    for (const r of created) expect(r.status, JSON.stringify(r.body)).toBe(202);
    vmIds.push(...created.map((r) => r.body.vm.id as string));
    domainNames.push(...created.map((r) => r.body.vm.domainName as string));
    const holders = new Map<string, Set<string>>();
    const creates = await settleAll(created.map((r) => r.body.operation.id), holders);

    const ops = await db().operation.findMany({ where: { vmId: { in: vmIds } } });
    expect(ops).toHaveLength(VMS);
    for (const op of ops) {
      expect(op, `operation ${op.id}`).toMatchObject({ kind: "create", status: "succeeded", attempts: 1, error: null, lockedBy: null });
      expect(op.startedAt).not.toBeNull();
      expect(holders.get(op.id)?.size ?? 0, `workers seen holding ${op.id}`).toBeLessThanOrEqual(1);
    }
    console.log(`two-portals: creates ran on ${JSON.stringify(creates.map((o) => [...(holders.get(o.id) ?? [])].map(workerPortal).join("") || "unseen"))}`);

    // Each VM running as seen through the portal it was not created on, and one domain each, running.
    const running = virsh("list", "--name").split("\n").map((l) => l.trim());
    for (const [i, id] of vmIds.entries()) {
      const got = await api(i % 2 === 0 ? "b" : "a")("GET", `/vms/${id}`);
      expect(got.body.state).toBe("running");
      expect(running.filter((n) => n === domainNames[i])).toHaveLength(1);
      expect(virsh("domuuid", domainNames[i]!).trim()).toBe(id);
    }

    // Deletes, alternately through both; the first VM is kept for the live-update and failover tests.
    const gone = vmIds.slice(1);
    const dels = await Promise.all(gone.map((id, i) => api(i % 2 === 0 ? "b" : "a")("DELETE", `/vms/${id}`)));
    for (const d of dels) expect(d.status, JSON.stringify(d.body)).toBe(202);
    const deletes = await settleAll(dels.map((d) => d.body.operation.id), holders, 90_000);
    for (const op of deletes) {
      expect(op, `operation ${op.id}`).toMatchObject({ kind: "delete", status: "succeeded", attempts: 1, error: null });
      expect(holders.get(op.id)?.size ?? 0).toBeLessThanOrEqual(1);
    }
    for (const [i, id] of gone.entries()) {
      expect((await api("a")("GET", `/vms/${id}`)).status).toBe(404);
      expect((await api("b")("GET", `/vms/${id}`)).status).toBe(404);
      expect(domainExists(domainNames[i + 1]!)).toBe(false);
    }
    expect(await db().operation.count({ where: { vmId: { in: vmIds } } })).toBe(VMS + gone.length);
  });

  it("a change made through one portal reaches the live streams of both", async () => {
    const vmId = vmIds[0]!;
    const live = { a: await openLiveStream(portals.a), b: await openLiveStream(portals.b) };
    const openedAt = Date.now();
    for (const n of ["a", "b"] as const) await seenAt(live[n], vmId, "running", 0, 10_000);

    for (const [via, action, state] of [["a", "pause", "paused"], ["b", "resume", "running"]] as const) {
      const requestedAt = Date.now();
      const res = await api(via)("POST", `/vms/${vmId}/${action}`);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const seen = { a: await seenAt(live.a, vmId, state, requestedAt, LIVE_BUDGET_MS), b: await seenAt(live.b, vmId, state, requestedAt, LIVE_BUDGET_MS) };
      console.log(`two-portals: ${action} via ${via} seen by a after ${seen.a - requestedAt} ms, by b after ${seen.b - requestedAt} ms`);
      // Before either stream's timer re-read (15 s after it opened) could have carried it.
      for (const at of Object.values(seen)) expect(at - openedAt).toBeLessThan(15_000);
      const [op] = await settleAll([res.body.operation.id], new Map());
      expect(op).toMatchObject({ status: "succeeded", attempts: 1 });
    }
    live.a.close();
    live.b.close();
  });

  it("SIGKILL of the leader: the other portal takes over host monitoring within 15 s", async () => {
    const vmId = vmIds[0]!;
    const domain = domainNames[0]!;
    const dead = (await leader())!;
    expect(dead).toMatch(/^[ab]$/);
    const survivor = other(dead);
    const live = await openLiveStream(portals[survivor]);
    await seenAt(live, vmId, "running", 0, 10_000);

    const child = portals[dead].process;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const killedAt = Date.now();
    expect(child.kill("SIGKILL")).toBe(true);
    await exited;
    // Only the next leader's monitor can notice this.
    virsh("destroy", domain);

    let lockMs: number | null = null;
    let stoppedMs: number | null = null;
    let relistMs: number | null = null;
    await waitFor(
      "the survivor to lead and see the domain stopped",
      async () => {
        if (lockMs === null && (await leader()) === survivor) lockMs = Date.now() - killedAt;
        const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, select: { state: true } });
        if (stoppedMs === null && vm.state === "stopped") stoppedMs = Date.now() - killedAt;
        // The destroy may reach the survivor as a lifecycle event before its first full relist stamps the host.
        const seen = await db().host.findUniqueOrThrow({ where: { id: seeded.hostId }, select: { lastSeenAt: true } });
        if (relistMs === null && seen.lastSeenAt && seen.lastSeenAt.getTime() > killedAt) relistMs = Date.now() - killedAt;
        return lockMs !== null && stoppedMs !== null && relistMs !== null;
      },
      60_000,
      100,
    ).catch(() => undefined);
    console.log(`two-portals: killed leader ${dead}; ${survivor} held the lock after ${lockMs} ms and recorded the destroyed domain as stopped after ${stoppedMs} ms`);
    expect(lockMs, "survivor holds the leader lock").not.toBeNull();
    expect(stoppedMs, "survivor's monitor saw the destroy").not.toBeNull();
    expect(stoppedMs!).toBeLessThan(FAILOVER_BUDGET_MS);
    expect(relistMs, "survivor relisted the host after the kill").not.toBeNull();
    expect(relistMs!).toBeLessThan(FAILOVER_BUDGET_MS);
    await seenAt(live, vmId, "stopped", killedAt, 5_000);
    // The dead process's sessions are gone (its lock went with them).
    expect(await db().$queryRaw<unknown[]>`SELECT 1 FROM pg_stat_activity WHERE application_name = ${APP_NAME[dead]}`).toHaveLength(0);

    // The survivor alone still runs operations.
    const del = await api(survivor)("DELETE", `/vms/${vmId}`);
    expect(del.status, JSON.stringify(del.body)).toBe(202);
    const [op] = await settleAll([del.body.operation.id], new Map(), 90_000);
    expect(op).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(domainExists(domain)).toBe(false);
  });
});
