/**
 * `npm run bench:api` — read latency of the VM API at fleet size: 10 000 VMs of 1 000 tenants on 50
 * hosts, read through the real portal process (REST, bearer token, keep-alive) and, in the same run,
 * the same rows with one raw SQL query each (node-postgres, the joins the API returns). Measured as
 * the admin (a page of everyone's VMs, walking the whole list by cursor; one VM by id) and as a
 * tenant owning ten (their list; one of theirs). Also: GET /me, the floor of any authenticated
 * request, and the whole unpaged list of 10 000. Prints one JSON line; exits 1 when a portal p95 of a
 * page or a single VM reaches the 50 ms target.
 *
 * The portal runs with VMDESK_WORKER=off: the hosts are rows only (unreachable URIs), and a monitor
 * dialling 49 dead hosts would measure the monitor, not the API.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import pg from "pg";
import { hashPassword } from "../../server/auth/secrets.ts";
import { db, disconnectDb } from "../../server/db/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";
import { seedDatabase } from "../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";
import { BENCH_ADMIN_PASSWORD, assertBenchPrepared } from "./baseline.ts";

assertBenchPrepared("api");
const VMS = 10_000;
const USERS = 1_000;
const HOSTS = 50;
const PAGE = 100;
const ROUNDS = Number(process.env.BENCH_N ?? 300);
const WARMUP = Math.min(50, ROUNDS);
/** Full unpaged reads of all 10 000 VMs: a handful, they take long. */
const UNPAGED_ROUNDS = 5;
const TARGET_P95_MS = 50;
const TENANT_PASSWORD = "bench-tenant-password";

/** Deterministic pseudo-random numbers (mulberry32): every run seeds the same fleet (ids aside). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

const STATES = [
  ...Array<"running">(55).fill("running"),
  ...Array<"stopped">(35).fill("stopped"),
  ...Array<"paused">(4).fill("paused"),
  ...Array<"error">(3).fill("error"),
  ...Array<"provisioning">(2).fill("provisioning"),
  "deleting",
] as const;

/**
 * Seeds the fleet: the harness's local host, image and admin, 49 more hosts, 1 000 tenants sharing one
 * password hash, 10 000 VMs with random owners and hosts (each with its finished create operation;
 * provisioning and deleting ones with an active operation) and every tenant's quota matching its VMs.
 */
async function seedFleet(): Promise<{ url: string; tenant: string }> {
  const { url, hostId, imageId, isoImageId } = await seedDatabase("vmdesk_bench_api", { poolSuffix: "abench", adminPassword: BENCH_ADMIN_PASSWORD });
  const client = db();
  const rand = prng(9);
  const hosts = [{ id: hostId }, ...Array.from({ length: HOSTS - 1 }, () => ({ id: randomUUID() }))];
  await client.host.createMany({
    data: hosts.slice(1).map((h, i) => ({
      id: h.id,
      name: `bench-host-${i + 1}`,
      uri: `qemu+tcp://10.255.0.${i + 1}/system`,
      poolPath: `/var/lib/vmdesk/pool-${i + 1}`,
      cpus: 64,
      memoryMiB: 262_144,
      state: "connected" as const,
    })),
  });
  const passwordHash = await hashPassword(TENANT_PASSWORD);
  const users = Array.from({ length: USERS }, (_, i) => ({ id: randomUUID(), username: `bench-tenant-${String(i).padStart(4, "0")}` }));
  await client.user.createMany({ data: users.map((u) => ({ ...u, passwordHash, role: "tenant" as const })) });

  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const used = new Map(users.map((u) => [u.id, { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 }]));
  const vms = Array.from({ length: VMS }, (_, i) => {
    const id = randomUUID();
    const owner = pick(rand, users);
    const state = pick(rand, STATES);
    const vcpus = pick(rand, [1, 1, 2, 2, 4]);
    const memoryMiB = pick(rand, [512, 1024, 2048, 4096]);
    const diskGiB = pick(rand, [10, 20, 40]);
    const u = used.get(owner.id)!;
    u.vms++;
    u.vcpus += vcpus;
    u.memoryMiB += memoryMiB;
    u.diskGiB += diskGiB;
    // Creation times about 50 minutes apart over a year, some in the same millisecond (bulk creates).
    const createdAt = new Date(t0 + Math.floor(i / 2) * 6_000_000);
    return {
      id,
      name: `vm-${i}`,
      ownerId: owner.id,
      hostId: pick(rand, hosts).id,
      imageId: rand() < 0.9 ? imageId : isoImageId,
      vcpus,
      memoryMiB,
      diskGiB,
      domainName: `vmdesk-${id}`,
      state,
      observedState: state === "running" ? "running" : state === "paused" ? "paused" : "shut off",
      observedAt: new Date(),
      stateMessage: state === "error" ? "define failed: storage pool is full" : null,
      createdAt,
    };
  });
  const activeKinds: Partial<Record<(typeof STATES)[number], string>> = { provisioning: "create", deleting: "delete" };
  const operations = vms.map((v): Prisma.OperationCreateManyInput => {
    const kind = activeKinds[v.state];
    const op = { id: randomUUID(), vmId: v.id, hostId: v.hostId, requestedById: v.ownerId };
    return kind ? { ...op, kind, status: "queued" } : { ...op, kind: "create", status: "succeeded", progress: 100, createdAt: v.createdAt, startedAt: v.createdAt, finishedAt: v.createdAt };
  });
  for (let i = 0; i < vms.length; i += 1000) await client.vm.createMany({ data: vms.slice(i, i + 1000) });
  for (let i = 0; i < operations.length; i += 1000) await client.operation.createMany({ data: operations.slice(i, i + 1000) });
  await client.$executeRaw`UPDATE "Vm" v SET "activeOperationId" = o.id FROM "Operation" o WHERE o."vmId" = v.id AND o.status = 'queued'`;
  await client.quota.createMany({
    data: [...used].map(([userId, u]) => ({
      userId,
      maxVms: 20,
      maxVcpus: 80,
      maxMemoryMiB: 81_920,
      maxDiskGiB: 800,
      usedVms: u.vms,
      usedVcpus: u.vcpus,
      usedMemoryMiB: u.memoryMiB,
      usedDiskGiB: u.diskGiB,
    })),
  });
  await client.$executeRawUnsafe("ANALYZE");
  // The measured tenant: one owning exactly ten (the mean), or the closest to it.
  const tenant = users.reduce((best, u) => (Math.abs(used.get(u.id)!.vms - 10) < Math.abs(used.get(best.id)!.vms - 10) ? u : best));
  await disconnectDb();
  return { url, tenant: tenant.username };
}

/** The VM as the API returns it, in one statement: owner, host, image, class and active operation joined. */
const VM_ROWS = `
  SELECT v.id, v.name, v."ownerId", v.state, v."observedState", v."observedAt", v."stateMessage", v."guestReadyAt",
         v.vcpus, v."memoryMiB", v."diskGiB", v."domainName", v."createdAt", v."updatedAt", v."activeOperationId",
         u.id AS "owner.id", u.username AS "owner.username",
         h.id AS "host.id", h.name AS "host.name", h."domainType" AS "host.domainType",
         i.id AS "image.id", i.name AS "image.name", i.format AS "image.format",
         c.id AS "class.id", c.name AS "class.name", c."frozenAt" AS "class.frozenAt", c."expiresAt" AS "class.expiresAt", c."expiryWarnDays" AS "class.expiryWarnDays",
         o.id AS "op.id", o.kind AS "op.kind", o.status AS "op.status", o."vmId" AS "op.vmId", o.step AS "op.step", o.progress AS "op.progress",
         o.error AS "op.error", o.attempts AS "op.attempts", o.params AS "op.params", o."createdAt" AS "op.createdAt",
         o."startedAt" AS "op.startedAt", o."finishedAt" AS "op.finishedAt"
  FROM "Vm" v
  JOIN "User" u ON u.id = v."ownerId"
  JOIN "Host" h ON h.id = v."hostId"
  LEFT JOIN "Image" i ON i.id = v."imageId"
  LEFT JOIN "Class" c ON c.id = v."classId"
  LEFT JOIN "Operation" o ON o.id = v."activeOperationId"
  WHERE v."deletedAt" IS NULL`;
const SQL = {
  firstPage: `${VM_ROWS} ORDER BY v."createdAt", v.id LIMIT ${PAGE}`,
  nextPage: `${VM_ROWS} AND (v."createdAt", v.id) > (SELECT "createdAt", id FROM "Vm" WHERE id = $1) ORDER BY v."createdAt", v.id LIMIT ${PAGE}`,
  all: `${VM_ROWS} ORDER BY v."createdAt", v.id`,
  owned: `${VM_ROWS} AND v."ownerId" = $1 ORDER BY v."createdAt", v.id`,
  one: `${VM_ROWS} AND v.id = $1`,
  oneOwned: `${VM_ROWS} AND v.id = $1 AND v."ownerId" = $2`,
};

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One GET over the kept-alive connection; the time runs from the request until its last body byte. */
function timedGet(baseUrl: string, path: string, token: string): Promise<{ ms: number; rows: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(`${baseUrl}/api/v1${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const ms = performance.now() - t0;
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
        if (res.statusCode !== 200) return reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${JSON.stringify(body)}`));
        resolve({ ms, rows: Array.isArray(body) ? body.length : 1 });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

async function timedQuery(sql: pg.Client, text: string, values: unknown[]): Promise<{ ms: number; rows: number }> {
  const t0 = performance.now();
  const { rowCount } = await sql.query(text, values);
  return { ms: performance.now() - t0, rows: rowCount ?? 0 };
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Pair {
  portal: number[];
  sql: number[];
  portalRows: number;
  sqlRows: number;
}

/**
 * Request i through the portal, then the same rows by SQL, alternating, so both see the same machine.
 * The first WARMUP pairs are not recorded (JIT, connection and plan caches).
 */
async function measure(n: number, portal: (i: number) => Promise<{ ms: number; rows: number }>, sql: (i: number) => Promise<{ ms: number; rows: number }>, warmup = WARMUP): Promise<Pair> {
  const out: Pair = { portal: [], sql: [], portalRows: 0, sqlRows: 0 };
  for (let i = -warmup; i < n; i++) {
    const p = await portal(i + warmup);
    const s = await sql(i + warmup);
    if (i < 0) continue;
    out.portal.push(p.ms);
    out.sql.push(s.ms);
    out.portalRows = Math.max(out.portalRows, p.rows);
    out.sqlRows = Math.max(out.sqlRows, s.rows);
  }
  return out;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
function summary(prefix: string, m: Pair): Record<string, number> {
  const p95 = percentile(m.portal, 95);
  const sqlP95 = percentile(m.sql, 95);
  return {
    [`${prefix}_p50_ms`]: round2(percentile(m.portal, 50)),
    [`${prefix}_p95_ms`]: round2(p95),
    [`${prefix}_sql_p50_ms`]: round2(percentile(m.sql, 50)),
    [`${prefix}_sql_p95_ms`]: round2(sqlP95),
    [`${prefix}_ratio_p95`]: round2(p95 / sqlP95),
  };
}

let portal: RunningPortal | null = null;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`bench:api: ${signal}, stopping the portal`);
    void (portal?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

const seedStart = performance.now();
const { url, tenant } = await seedFleet();
console.error(`bench:api: seeded ${VMS} VMs, ${USERS} tenants, ${HOSTS} hosts in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
const sql = new pg.Client({ connectionString: url });
await sql.connect();
let exitCode = 0;
try {
  portal = await startPortalServer(url, { VMDESK_WORKER: "off", VMDESK_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "error" });
  const base = portal.baseUrl;
  const anon = restClient(base);
  const mint = async (username: string, password: string) => {
    const r = await anon("POST", "/auth/token", { username, password, name: "bench:api" });
    if (r.status !== 201) throw new Error(`token for ${username}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const adminToken = await mint("admin", BENCH_ADMIN_PASSWORD);
  const tenantToken = await mint(tenant, TENANT_PASSWORD);

  // Cursors of every page of everyone's VMs (page 1 has none); the admin walks the list with them.
  const order = (await sql.query<{ id: string }>(`SELECT id FROM "Vm" WHERE "deletedAt" IS NULL ORDER BY "createdAt", id`)).rows.map((r) => r.id);
  const cursors: Array<string | null> = [null, ...order.filter((_, i) => i % PAGE === PAGE - 1 && i < order.length - 1)];
  const cursorAt = (i: number) => cursors[i % cursors.length]!;
  const rand = prng(42);
  const someVms = Array.from({ length: ROUNDS + WARMUP }, () => pick(rand, order));
  const tenantRow = (await sql.query<{ id: string }>(`SELECT id FROM "User" WHERE username = $1`, [tenant])).rows[0]!;
  const ownVms = (await sql.query<{ id: string }>(`SELECT id FROM "Vm" WHERE "ownerId" = $1 AND "deletedAt" IS NULL`, [tenantRow.id])).rows.map((r) => r.id);

  const list = await measure(
    ROUNDS,
    (i) => timedGet(base, `/vms?all=true&limit=${PAGE}${cursorAt(i) ? `&cursor=${cursorAt(i)}` : ""}`, adminToken),
    (i) => (cursorAt(i) ? timedQuery(sql, SQL.nextPage, [cursorAt(i)]) : timedQuery(sql, SQL.firstPage, [])),
  );
  if (list.portalRows > PAGE) console.error(`bench:api: GET /vms?all=true&limit=${PAGE} returned ${list.portalRows} VMs: the list does not paginate`);
  const get = await measure(
    ROUNDS,
    (i) => timedGet(base, `/vms/${someVms[i]}`, adminToken),
    (i) => timedQuery(sql, SQL.one, [someVms[i]]),
  );
  const tenantList = await measure(
    ROUNDS,
    () => timedGet(base, "/vms", tenantToken),
    () => timedQuery(sql, SQL.owned, [tenantRow.id]),
  );
  const tenantGet = await measure(
    ROUNDS,
    (i) => timedGet(base, `/vms/${ownVms[i % ownVms.length]}`, tenantToken),
    (i) => timedQuery(sql, SQL.oneOwned, [ownVms[i % ownVms.length], tenantRow.id]),
  );
  // The floor: an authenticated request that reads nothing but its token and user (GET /me).
  const floor = await measure(
    ROUNDS,
    () => timedGet(base, "/me", tenantToken),
    () => timedQuery(sql, `SELECT id, username FROM "User" WHERE id = $1`, [tenantRow.id]),
  );
  // Everyone's VMs in one response, as callers that pass no limit still get them.
  const unpaged = await measure(
    UNPAGED_ROUNDS,
    () => timedGet(base, "/vms?all=true", adminToken),
    () => timedQuery(sql, SQL.all, []),
    1,
  );
  if (tenantList.portalRows !== ownVms.length) throw new Error(`tenant list: ${tenantList.portalRows} VMs, owns ${ownVms.length}`);
  if (unpaged.portalRows !== VMS || unpaged.sqlRows !== VMS) throw new Error(`unpaged list: portal ${unpaged.portalRows}, SQL ${unpaged.sqlRows} of ${VMS}`);

  const result = {
    bench: "api",
    vms: VMS,
    users: USERS,
    hosts: HOSTS,
    ...summary("list", list),
    ...summary("get", get),
    ...summary("tenant_list", tenantList),
    ...summary("tenant_get", tenantGet),
    me_p50_ms: round2(percentile(floor.portal, 50)),
    me_p95_ms: round2(percentile(floor.portal, 95)),
    list_page_rows: list.portalRows,
    tenant_vms: ownVms.length,
    unpaged_list_p50_ms: round2(percentile(unpaged.portal, 50)),
    unpaged_list_sql_p50_ms: round2(percentile(unpaged.sql, 50)),
    requests: ROUNDS,
  };
  console.log(JSON.stringify(result));
  const missed = Object.entries({ list, get, tenant_list: tenantList, tenant_get: tenantGet })
    .map(([name, m]) => ({ name, p95: round2(percentile(m.portal, 95)) }))
    .filter((m) => m.p95 >= TARGET_P95_MS);
  if (missed.length) {
    console.error(`bench:api: p95 target (< ${TARGET_P95_MS} ms) missed: ${missed.map((m) => `${m.name} ${m.p95} ms`).join(", ")}`);
    exitCode = 1;
  }
} finally {
  agent.destroy();
  await sql.end();
  await portal?.stop();
  portal = null;
}
process.exit(exitCode);
