/**
 * Integration-test harness: a fresh database (in the embedded cluster, or DATABASE_URL's server) with
 * migrations applied, the local libvirt host and the demo image seeded, callers that act as given
 * users through the real tRPC router, and the real background jobs (worker, monitors) in-process.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createEmbeddedDatabase, startEmbeddedPostgres } from "../../server/db/embedded-postgres.ts";
import { db, disconnectDb } from "../../server/db/client.ts";
import { resetConfigForTests } from "../../server/config.ts";
import { createCaller } from "../../server/api/root.ts";
import type { ApiContext } from "../../server/api/trpc.ts";
import { ensureAdmin, createUser, setQuota } from "../../server/services/user-service.ts";
import type { AuthenticatedUser } from "../../server/services/auth-service.ts";
import { loadActiveUser } from "../../server/services/auth-service.ts";
import type { Background } from "../../server/jobs/background.ts";
import type { ResourceAmounts } from "../../server/domain/quota.ts";

export const repoRoot = path.resolve(import.meta.dirname, "../..");
export const dataDir = path.resolve(process.env.VMDESK_DATA_DIR ?? path.join(repoRoot, ".vmdesk-test"));
/** libvirt pools are host-wide: name the tests' pool after this checkout so two checkouts never share one. */
export const testPoolName = `vmdesk-t-${createHash("sha256").update(dataDir).digest("hex").slice(0, 8)}`;
export const demoImageDir = path.resolve(process.env.VMDESK_DEMO_IMAGE_DIR ?? path.join(dataDir, "images"));

/** Creates (or recreates) an empty database `name`; its URL carries the cluster's password. */
export function emptyDatabase(name: string): string {
  if (process.env.VMDESK_TEST_DATABASE_BASE_URL) {
    const u = new URL(process.env.VMDESK_TEST_DATABASE_BASE_URL);
    u.pathname = `/${name}`;
    return u.toString();
  }
  startEmbeddedPostgres(dataDir);
  return createEmbeddedDatabase(dataDir, name);
}

/** Creates (or recreates) database `name` and applies the committed migrations to it. */
export function freshDatabase(name: string): string {
  const url = emptyDatabase(name);
  execFileSync(path.join(repoRoot, "node_modules/.bin/prisma"), ["migrate", "deploy"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: "1" },
    stdio: "pipe",
  });
  return url;
}

export interface Portal {
  url: string;
  hostId: string;
  imageId: string;
  isoImageId: string;
  admin: AuthenticatedUser;
  background: Background | null;
  caller(user: AuthenticatedUser): ReturnType<typeof createCaller>;
  newTenant(limits: ResourceAmounts, username?: string): Promise<AuthenticatedUser>;
  startBackground(opts?: { relistMs?: number; staleMs?: number }): Promise<Background>;
  close(): Promise<void>;
}

export interface SeededDatabase {
  url: string;
  hostId: string;
  imageId: string;
  isoImageId: string;
  admin: AuthenticatedUser;
}

export const ADMIN_PASSWORD = "admin-password-1";

/**
 * A fresh database `dbName` (migrated) with what every suite starts from: the local libvirt host in
 * TCG mode with this checkout's pool (`poolSuffix` gives benchmarks a pool of their own), the demo
 * qcow2 and ISO images, and the admin. Leaves DATABASE_URL pointing at it and the client connected.
 */
export async function seedDatabase(dbName: string, opts: { poolSuffix?: string; adminPassword?: string } = {}): Promise<SeededDatabase> {
  await disconnectDb();
  const url = freshDatabase(dbName);
  process.env.DATABASE_URL = url;
  process.env.VMDESK_LOG_LEVEL ??= "warn";
  resetConfigForTests();
  const client = db();
  const suffix = opts.poolSuffix ? `-${opts.poolSuffix}` : "";
  // Recorded as the host monitor would after its first look at this machine, so placement can use
  // the host before (or without) a monitor in this process: an unmeasured host takes no VMs.
  const host = await client.host.create({
    data: {
      name: "local",
      uri: "qemu:///system",
      domainType: "qemu",
      cpuMode: "none",
      poolName: `${testPoolName}${suffix}`,
      poolPath: path.join(dataDir, `pool${suffix}`),
      state: "connected",
      lastSeenAt: new Date(),
      cpus: os.cpus().length,
      memoryMiB: Math.floor(os.totalmem() / 1024 ** 2),
      freeMemoryMiB: Math.floor(os.freemem() / 1024 ** 2),
      diskFreeGiB: Math.floor((fs.statfsSync(dataDir).bavail * fs.statfsSync(dataDir).bsize) / 1024 ** 3),
    },
  });
  const qcow = path.join(demoImageDir, "vmdesk-demo.qcow2");
  const iso = path.join(demoImageDir, "vmdesk-demo.iso");
  if (!fs.existsSync(qcow)) throw new Error(`demo image missing at ${qcow}: run scripts/build-demo-image.sh ${demoImageDir}`);
  const image = await client.image.create({ data: { name: "vmdesk demo", path: qcow, format: "qcow2", minDiskGiB: 1, hostId: host.id } });
  const isoImage = await client.image.create({ data: { name: "vmdesk demo (ISO)", path: iso, format: "iso", minDiskGiB: 1, hostId: host.id } });
  await ensureAdmin(client, "admin", opts.adminPassword ?? ADMIN_PASSWORD);
  const admin = (await loadActiveUser(client, (await client.user.findUniqueOrThrow({ where: { username: "admin" } })).id))!;
  return { url, hostId: host.id, imageId: image.id, isoImageId: isoImage.id, admin };
}

/** A service context acting as `actor` (for set-up through the real use-cases). */
export function serviceAs(actor: AuthenticatedUser) {
  return { db: db(), actor, ip: null, requestId: "test-setup" };
}

export async function startPortal(dbName: string, opts: { background?: boolean; relistMs?: number } = {}): Promise<Portal> {
  const seeded = await seedDatabase(dbName);
  const { url, admin } = seeded;
  const client = db();
  const host = { id: seeded.hostId };
  const image = { id: seeded.imageId };
  const isoImage = { id: seeded.isoImageId };

  const caller = (user: AuthenticatedUser) => {
    const ctx: ApiContext = { user, authMethod: "token", sameOrigin: true, ip: "127.0.0.1", requestId: randomUUID() };
    return createCaller(ctx);
  };
  const svc = { db: client, actor: admin, ip: null, requestId: "test" };

  const portal: Portal = {
    url,
    hostId: host.id,
    imageId: image.id,
    isoImageId: isoImage.id,
    admin,
    background: null,
    caller,
    async newTenant(limits, username = `t${randomUUID().slice(0, 8)}`) {
      const u = await createUser(svc, { username, password: "tenant-password-1", role: "tenant" });
      await setQuota(svc, u.id, limits);
      return (await loadActiveUser(client, u.id))!;
    },
    async startBackground(o = {}) {
      process.env.VMDESK_RELIST_INTERVAL_MS = String(o.relistMs ?? opts.relistMs ?? 1000);
      process.env.VMDESK_OPERATION_STALE_MS = String(o.staleMs ?? 30_000);
      process.env.VMDESK_HOST_CALL_TIMEOUT_MS ??= "15000";
      process.env.VMDESK_SHUTDOWN_TIMEOUT_S ??= "30";
      resetConfigForTests();
      const { startBackground } = await import("../../server/jobs/background.ts");
      portal.background = await startBackground();
      return portal.background;
    },
    async close() {
      await portal.background?.stop();
      portal.background = null;
      await disconnectDb();
    },
  };
  if (opts.background !== false) await portal.startBackground();
  return portal;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function virsh(...args: string[]): string {
  return execFileSync("virsh", ["-c", "qemu:///system", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function domainExists(name: string): boolean {
  try {
    virsh("domstate", name);
    return true;
  } catch {
    return false;
  }
}

/** Waits for an operation to finish and returns it. */
export async function settle(portal: Portal, user: AuthenticatedUser, operationId: string, timeoutMs = 90_000) {
  return waitFor(
    `operation ${operationId}`,
    async () => {
      const op = await portal.caller(user).operation.get({ id: operationId });
      return op.status === "succeeded" || op.status === "failed" ? op : null;
    },
    timeoutMs,
  );
}
