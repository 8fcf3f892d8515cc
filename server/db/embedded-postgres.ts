/**
 * vmdesk's default database: a private PostgreSQL cluster inside the data directory, reachable only
 * through a unix socket (no TCP), started and stopped with the portal. Used when DATABASE_URL is unset.
 *
 * PostgreSQL refuses to run as root, so when we are root the cluster belongs to the `postgres` system
 * user (created by Debian's postgresql package) and its commands run through `runuser`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface EmbeddedPostgres {
  dataDir: string;
  socketDir: string;
  url: string;
}

const DB_NAME = "vmdesk";
const DB_USER = "vmdesk";

function pgBinDir(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin", "pg_ctl")))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql (install the postgresql package)");
  return path.join(base, versions[0], "bin");
}

function osUser(): string | null {
  return process.getuid?.() === 0 ? "postgres" : null;
}

function run(bin: string, args: string[], opts: { allowFail?: boolean } = {}): { status: number; out: string } {
  const user = osUser();
  const cmd = user ? "runuser" : bin;
  const fullArgs = user ? ["-u", user, "--", bin, ...args] : args;
  const r = spawnSync(cmd, fullArgs, { encoding: "utf8", cwd: "/" });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${path.basename(bin)} ${args.join(" ")} failed: ${out.trim()}`);
  return { status: r.status ?? 1, out };
}

export function embeddedPaths(vmdeskDataDir: string): EmbeddedPostgres {
  const root = path.resolve(vmdeskDataDir, "postgres");
  const dataDir = path.join(root, "data");
  const socketDir = path.join(root, "run");
  const url = `postgresql://${DB_USER}@localhost/${DB_NAME}?host=${encodeURIComponent(socketDir)}`;
  return { dataDir, socketDir, url };
}

function chownToCluster(p: string): void {
  const user = osUser();
  if (user) execFileSync("chown", ["-R", `${user}:${user}`, p]);
}

/** Creates the cluster if absent and starts it if stopped. Idempotent; returns the connection URL. */
export function startEmbeddedPostgres(vmdeskDataDir: string): EmbeddedPostgres {
  const pg = embeddedPaths(vmdeskDataDir);
  const bin = pgBinDir();
  const root = path.dirname(pg.dataDir);
  if (!fs.existsSync(path.join(pg.dataDir, "PG_VERSION"))) {
    fs.mkdirSync(root, { recursive: true, mode: 0o755 });
    fs.mkdirSync(pg.dataDir, { mode: 0o700 });
    fs.mkdirSync(pg.socketDir, { recursive: true, mode: 0o755 });
    chownToCluster(root);
    run(path.join(bin, "initdb"), ["-D", pg.dataDir, "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-instructions"]);
    // Unix socket only: no TCP listener at all.
    fs.appendFileSync(
      path.join(pg.dataDir, "postgresql.conf"),
      `\nlisten_addresses = ''\nunix_socket_directories = '${pg.socketDir}'\nunix_socket_permissions = 0777\nmax_connections = 200\nfsync = on\n`,
    );
  }
  fs.mkdirSync(pg.socketDir, { recursive: true });
  chownToCluster(pg.socketDir);
  if (run(path.join(bin, "pg_ctl"), ["-D", pg.dataDir, "status"], { allowFail: true }).status !== 0) {
    run(path.join(bin, "pg_ctl"), ["-D", pg.dataDir, "-l", path.join(root, "postgres.log"), "-w", "-t", "60", "start"]);
  }
  const exists = run(path.join(bin, "psql"), ["-h", pg.socketDir, "-U", DB_USER, "-d", "postgres", "-tAc", `SELECT 1 FROM pg_database WHERE datname='${DB_NAME}'`]);
  if (exists.out.trim() !== "1") run(path.join(bin, "createdb"), ["-h", pg.socketDir, "-U", DB_USER, DB_NAME]);
  return pg;
}

export function stopEmbeddedPostgres(vmdeskDataDir: string): void {
  const pg = embeddedPaths(vmdeskDataDir);
  if (!fs.existsSync(path.join(pg.dataDir, "PG_VERSION"))) return;
  run(path.join(pgBinDir(), "pg_ctl"), ["-D", pg.dataDir, "-m", "fast", "-w", "stop"], { allowFail: true });
}

/** Creates an extra database in the embedded cluster (tests use one per suite). */
export function createEmbeddedDatabase(vmdeskDataDir: string, name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  const pg = embeddedPaths(vmdeskDataDir);
  const bin = pgBinDir();
  run(path.join(bin, "dropdb"), ["-h", pg.socketDir, "-U", DB_USER, "--if-exists", "--force", name]);
  run(path.join(bin, "createdb"), ["-h", pg.socketDir, "-U", DB_USER, name]);
  return `postgresql://${DB_USER}@localhost/${name}?host=${encodeURIComponent(pg.socketDir)}`;
}
