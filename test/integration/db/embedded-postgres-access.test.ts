/**
 * The embedded cluster admits the portal only: another local account (here `nobody`, as a QEMU escape
 * as libvirt-qemu would be) is refused for every role and database, and a cluster made the old way
 * (trust, world-writable socket) is locked down by the next start. Each test uses a throw-away data
 * directory so the suite's own cluster is never touched.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { embeddedPaths, embeddedUrl, startEmbeddedPostgres, stopEmbeddedPostgres } from "../../../server/db/embedded-postgres.ts";

const isRoot = process.getuid?.() === 0;
const made: string[] = [];

/** A data directory every local user may traverse, as a checkout under a home or /srv usually is. */
function throwAwayDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vmdesk-pgauth-"));
  fs.chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

function pgBin(name: string): string {
  const base = "/usr/lib/postgresql";
  const version = fs.readdirSync(base).sort((a, b) => Number(b) - Number(a))[0]!;
  return path.join(base, version, "bin", name);
}

function asPostgres(bin: string, args: string[]): void {
  const r = spawnSync("runuser", ["-u", "postgres", "--", pgBin(bin), ...args], { encoding: "utf8", cwd: "/" });
  if (r.status !== 0) throw new Error(`${bin} failed: ${r.stdout}${r.stderr}`);
}

/** The cluster exactly as vmdesk created it before this fix: trust authentication, socket 0777. */
function oldStyleCluster(dataDir: string, running: boolean): void {
  const root = path.join(dataDir, "postgres");
  const data = path.join(root, "data");
  const run = path.join(root, "run");
  fs.mkdirSync(root, { mode: 0o755 });
  fs.mkdirSync(data, { mode: 0o700 });
  fs.mkdirSync(run, { mode: 0o755 });
  spawnSync("chown", ["-R", "postgres:postgres", root]);
  asPostgres("initdb", ["-D", data, "-U", "vmdesk", "--auth=trust", "-E", "UTF8", "--no-instructions"]);
  fs.appendFileSync(
    path.join(data, "postgresql.conf"),
    `\nlisten_addresses = ''\nunix_socket_directories = '${run}'\nunix_socket_permissions = 0777\nmax_connections = 200\nfsync = on\n`,
  );
  asPostgres("pg_ctl", ["-D", data, "-l", path.join(root, "postgres.log"), "-w", "-t", "60", "start"]);
  asPostgres("createdb", ["-h", run, "-U", "vmdesk", "vmdesk"]);
  asPostgres("psql", ["-h", run, "-U", "vmdesk", "-d", "vmdesk", "-c", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')"]);
  if (!running) asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
}

/** psql as OS user nobody, with nothing but the socket directory to go on. */
function psqlAsNobody(socketDir: string, role: string, database: string): { status: number | null; out: string } {
  const r = spawnSync(
    "runuser",
    ["-u", "nobody", "--", "psql", "-h", socketDir, "-U", role, "-d", database, "-w", "-tAc", "SELECT current_user"],
    { encoding: "utf8", cwd: "/", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PGCONNECT_TIMEOUT: "5" } as unknown as NodeJS.ProcessEnv, timeout: 20_000 },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

function expectNobodyRefusedEverywhere(dataDir: string): void {
  const { socketDir } = embeddedPaths(dataDir);
  for (const role of ["vmdesk", "postgres", "nobody"]) {
    for (const database of ["vmdesk", "postgres", "template1"]) {
      const r = psqlAsNobody(socketDir, role, database);
      expect({ role, database, status: r.status, out: r.out }).toMatchObject({ role, database, status: 2 });
    }
  }
}

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = "";
  return u.toString();
}

afterAll(() => {
  for (const dir of made) {
    stopEmbeddedPostgres(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("embedded PostgreSQL admits the portal only", () => {
  // The whole suite runs as root (CI does; libvirt and the host set-up need it). Without root this
  // cannot act as another OS user, so it fails saying so instead of skipping its claim.
  it("runs as root, so it can try the cluster as another OS user", () => {
    expect(isRoot, "run the integration tests as root: this file connects as the OS user nobody").toBe(true);
  });

  it("a new cluster refuses another OS user for every role and database; the portal's URL works", async () => {
    const dataDir = throwAwayDataDir();
    const cluster = startEmbeddedPostgres(dataDir);
    expectNobodyRefusedEverywhere(dataDir);
    expect(await query(cluster.url, "SELECT current_user AS u")).toEqual([{ u: "vmdesk" }]);
    expect(embeddedUrl(dataDir)).toBe(cluster.url);
    // The password, not the directory alone, keeps out whoever can enter it (root here).
    await expect(query(withoutPassword(cluster.url), "SELECT 1")).rejects.toThrow(/password/i);
    const passwordFile = embeddedPaths(dataDir).passwordFile;
    expect(fs.statSync(passwordFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(embeddedPaths(dataDir).socketDir).mode & 0o077).toBe(0);
  });

  it("restarting keeps the same password and URL", async () => {
    const dataDir = throwAwayDataDir();
    const first = startEmbeddedPostgres(dataDir).url;
    stopEmbeddedPostgres(dataDir);
    const second = startEmbeddedPostgres(dataDir).url;
    expect(second).toBe(first);
    expect(await query(second, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });

  for (const running of [true, false]) {
    it(`a cluster made the old way (trust, socket 0777, ${running ? "running" : "stopped"}) is locked down by the next start, data kept`, async () => {
      const dataDir = throwAwayDataDir();
      oldStyleCluster(dataDir, running);
      if (running) expect(psqlAsNobody(embeddedPaths(dataDir).socketDir, "vmdesk", "vmdesk").out).toBe("vmdesk");
      const cluster = startEmbeddedPostgres(dataDir);
      expectNobodyRefusedEverywhere(dataDir);
      expect(await query(cluster.url, "SELECT v FROM kept")).toEqual([{ v: "before" }]);
      await expect(query(withoutPassword(cluster.url), "SELECT 1")).rejects.toThrow(/password/i);
      const hba = fs.readFileSync(path.join(embeddedPaths(dataDir).dataDir, "pg_hba.conf"), "utf8");
      expect(hba).not.toMatch(/^\s*[^#\s].*\btrust\b/m);
    });
  }
});
