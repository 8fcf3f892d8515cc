/**
 * vmdesk's default database: a private PostgreSQL cluster inside the data directory, reachable only
 * through a unix socket (no TCP), started and stopped with the portal. Used when DATABASE_URL is unset.
 *
 * PostgreSQL refuses to run as root, so when we are root the cluster belongs to the `postgres` system
 * user (created by Debian's postgresql package) and its commands run through `runuser`.
 *
 * Only the portal gets in: the cluster's directory and its socket directory are 0700 (the cluster's OS
 * user; root passes anyway), and every connection must present the generated password (scram-sha-256),
 * kept 0600 beside the session secret. A cluster made before this (trust, socket 0777) is locked down
 * by the next start. The password never appears on a command line, where any local user could read it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface EmbeddedPostgres {
  dataDir: string;
  socketDir: string;
  /** The role's password, 0600, owned by the portal's OS user (not the cluster's). */
  passwordFile: string;
  url: string;
}

const DB_NAME = "vmdesk";
const DB_USER = "vmdesk";

/** Written on every start: a changed file is put back, so trust cannot creep in again. */
const CONF_MARKER = "# vmdesk (server/db/embedded-postgres.ts): unix socket only, private, passwords required";

const PG_HBA = `# Written by vmdesk (server/db/embedded-postgres.ts) on every start; edits are replaced.
# Unix socket only, in a directory private to the cluster's OS user; every role needs its password.
local all all scram-sha-256
`;

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

function run(
  bin: string,
  args: string[],
  opts: { allowFail?: boolean; password?: string; input?: string } = {},
): { status: number; out: string } {
  const user = osUser();
  const cmd = user ? "runuser" : bin;
  const fullArgs = user ? ["-u", user, "--", bin, ...args] : args;
  const env = opts.password ? { ...process.env, PGPASSWORD: opts.password } : process.env;
  const r = spawnSync(cmd, fullArgs, { encoding: "utf8", cwd: "/", env, input: opts.input });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${path.basename(bin)} ${args.join(" ")} failed: ${out.trim()}`);
  return { status: r.status ?? 1, out };
}

function paths(vmdeskDataDir: string): Omit<EmbeddedPostgres, "url"> & { root: string } {
  const dataRoot = path.resolve(vmdeskDataDir);
  const root = path.join(dataRoot, "postgres");
  return {
    root,
    dataDir: path.join(root, "data"),
    socketDir: path.join(root, "run"),
    passwordFile: path.join(dataRoot, "postgres-password"),
  };
}

function urlFor(socketDir: string, password: string, database: string): string {
  // base64url passwords need no escaping in the user-info part.
  return `postgresql://${DB_USER}:${password}@localhost/${database}?host=${encodeURIComponent(socketDir)}`;
}

function readPassword(passwordFile: string): string | null {
  return fs.existsSync(passwordFile) ? fs.readFileSync(passwordFile, "utf8").trim() || null : null;
}

function ensurePassword(passwordFile: string): string {
  const existing = readPassword(passwordFile);
  if (existing) {
    fs.chmodSync(passwordFile, 0o600);
    return existing;
  }
  fs.mkdirSync(path.dirname(passwordFile), { recursive: true });
  fs.writeFileSync(passwordFile, randomBytes(32).toString("base64url"), { mode: 0o600 });
  return readPassword(passwordFile)!;
}

/** Where the cluster lives; `url` carries the password when it exists yet (after the first start). */
export function embeddedPaths(vmdeskDataDir: string): EmbeddedPostgres {
  const p = paths(vmdeskDataDir);
  return { dataDir: p.dataDir, socketDir: p.socketDir, passwordFile: p.passwordFile, url: urlFor(p.socketDir, readPassword(p.passwordFile) ?? "", DB_NAME) };
}

/** The portal's URL for `database` in the embedded cluster, password included. */
export function embeddedUrl(vmdeskDataDir: string, database = DB_NAME): string {
  const p = paths(vmdeskDataDir);
  const password = readPassword(p.passwordFile);
  if (!password) throw new Error(`${p.passwordFile} is missing: start the embedded database first (scripts/db.ts start, npm run up)`);
  return urlFor(p.socketDir, password, database);
}

function chownToCluster(p: string, recursive = true): void {
  const user = osUser();
  if (user) execFileSync("chown", [...(recursive ? ["-R"] : []), `${user}:${user}`, p]);
}

/**
 * Socket and cluster directories private to the cluster's OS user. The socket file's own mode is
 * fixed in place too: unix_socket_permissions only applies when the server next creates it.
 */
function lockDownDirectories(p: ReturnType<typeof paths>): void {
  fs.mkdirSync(p.socketDir, { recursive: true, mode: 0o700 });
  chownToCluster(p.socketDir, false);
  for (const dir of [p.root, p.socketDir]) fs.chmodSync(dir, 0o700);
  for (const name of fs.readdirSync(p.socketDir)) {
    if (name.startsWith(".s.PGSQL.")) fs.chmodSync(path.join(p.socketDir, name), 0o700);
  }
}

/**
 * Our settings close postgresql.conf (initdb's own `max_connections = 100` and an older vmdesk's
 * `unix_socket_permissions = 0777` are dropped in favour of them). Rewritten only when it differs.
 */
function writeServerConfig(p: ReturnType<typeof paths>): void {
  const file = path.join(p.dataDir, "postgresql.conf");
  const before = fs.readFileSync(file, "utf8");
  const settings: Record<string, string> = {
    listen_addresses: "''",
    unix_socket_directories: `'${p.socketDir}'`,
    unix_socket_permissions: "0700",
    password_encryption: "'scram-sha-256'",
    max_connections: "200",
    fsync: "on",
  };
  const ours = new RegExp(`^\\s*(${Object.keys(settings).join("|")})\\s*=`);
  const kept = before.split("\n").filter((line) => !ours.test(line) && line !== CONF_MARKER);
  const block = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
  const conf = `${kept.join("\n").trimEnd()}\n\n${CONF_MARKER}\n${block.join("\n")}\n`;
  if (conf !== before) fs.writeFileSync(file, conf);
}

function isRunning(bin: string, dataDir: string): boolean {
  return run(path.join(bin, "pg_ctl"), ["-D", dataDir, "status"], { allowFail: true }).status === 0;
}

function start(bin: string, p: ReturnType<typeof paths>): void {
  run(path.join(bin, "pg_ctl"), ["-D", p.dataDir, "-l", path.join(p.root, "postgres.log"), "-w", "-t", "60", "start"]);
}

/** Creates the cluster if absent, locks an old one down, starts it if stopped. Idempotent. */
export function startEmbeddedPostgres(vmdeskDataDir: string): EmbeddedPostgres {
  const p = paths(vmdeskDataDir);
  const bin = pgBinDir();
  const password = ensurePassword(p.passwordFile);
  if (!fs.existsSync(path.join(p.dataDir, "PG_VERSION"))) {
    fs.mkdirSync(p.root, { recursive: true, mode: 0o700 });
    fs.mkdirSync(p.dataDir, { mode: 0o700 });
    fs.mkdirSync(p.socketDir, { recursive: true, mode: 0o700 });
    chownToCluster(p.root);
    // initdb reads the password from a file the cluster's user can read; removed right after.
    const pwfile = path.join(p.root, "initdb-password");
    fs.writeFileSync(pwfile, password, { mode: 0o600 });
    chownToCluster(pwfile, false);
    try {
      run(path.join(bin, "initdb"), ["-D", p.dataDir, "-U", DB_USER, "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-instructions"]);
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
    fs.writeFileSync(path.join(p.dataDir, "pg_hba.conf"), PG_HBA);
    chownToCluster(path.join(p.dataDir, "pg_hba.conf"), false);
  }
  writeServerConfig(p);
  lockDownDirectories(p);
  const hbaFile = path.join(p.dataDir, "pg_hba.conf");
  const hbaCurrent = fs.readFileSync(hbaFile, "utf8") === PG_HBA;
  if (!isRunning(bin, p.dataDir)) start(bin, p);
  if (!hbaCurrent) {
    // A cluster from before: still trust, so set the password first, then require it.
    run(path.join(bin, "psql"), ["-h", p.socketDir, "-U", DB_USER, "-d", "postgres", "-w", "-v", "ON_ERROR_STOP=1", "-q"], {
      password,
      input: `SET password_encryption = 'scram-sha-256';\nALTER ROLE ${DB_USER} PASSWORD '${password}';\n`,
    });
    fs.writeFileSync(hbaFile, PG_HBA);
    chownToCluster(hbaFile, false);
    run(path.join(bin, "pg_ctl"), ["-D", p.dataDir, "reload"]);
    lockDownDirectories(p);
  }
  const exists = run(path.join(bin, "psql"), ["-h", p.socketDir, "-U", DB_USER, "-d", "postgres", "-w", "-tAc", `SELECT 1 FROM pg_database WHERE datname='${DB_NAME}'`], { password, allowFail: true });
  if (exists.status !== 0) {
    throw new Error(`cannot sign in to the embedded database with the password in ${p.passwordFile} (was the file replaced or deleted? restore it): ${exists.out.trim()}`);
  }
  if (exists.out.trim() !== "1") run(path.join(bin, "createdb"), ["-h", p.socketDir, "-U", DB_USER, "-w", DB_NAME], { password });
  return { dataDir: p.dataDir, socketDir: p.socketDir, passwordFile: p.passwordFile, url: urlFor(p.socketDir, password, DB_NAME) };
}

export function stopEmbeddedPostgres(vmdeskDataDir: string): void {
  const p = paths(vmdeskDataDir);
  if (!fs.existsSync(path.join(p.dataDir, "PG_VERSION"))) return;
  run(path.join(pgBinDir(), "pg_ctl"), ["-D", p.dataDir, "-m", "fast", "-w", "stop"], { allowFail: true });
}

/** Creates an extra database in the embedded cluster (tests use one per suite). */
export function createEmbeddedDatabase(vmdeskDataDir: string, name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`);
  const p = paths(vmdeskDataDir);
  const bin = pgBinDir();
  const url = embeddedUrl(vmdeskDataDir, name);
  const password = new URL(url).password;
  run(path.join(bin, "dropdb"), ["-h", p.socketDir, "-U", DB_USER, "-w", "--if-exists", "--force", name], { password });
  run(path.join(bin, "createdb"), ["-h", p.socketDir, "-U", DB_USER, "-w", name], { password });
  return url;
}
