/**
 * Lab hosts: extra libvirt daemons on this machine, each standing in for a separate hypervisor host.
 *
 * Host `labN` gets its own network namespace (`vmdesk-labN`, address 10.77.0.(10+N) on the bridge
 * `vmdlab0`, whose root-namespace end 10.77.0.1 is where the portal talks from), its own mount and
 * UTS namespaces (its own /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
 * /var/cache/libvirt, bind-mounted from `<data>/lab/hosts/labN`, so its domains, networks, filters and
 * storage pool are its own) and its own `virtlogd` + `libvirtd --listen`. The portal reaches it the way
 * it reaches a real remote host: qemu+tls with a CA and certificates made here (server certificate per
 * host, one client certificate the daemons require by DN). `<data>/lab/shared` lies outside every bind
 * mount, so all lab hosts see it at the same path: it plays shared storage (NFS, CephFS).
 *
 * Every process a lab host runs (daemons, QEMU, dnsmasq) is in its network namespace, so
 * `ip netns pids` finds them all: `kill` SIGKILLs them together (a power loss), `killDaemon` only
 * its libvirtd (its guests keep running and keep their disk leases, held by the host's virtlockd; the
 * next `up` starts a daemon that adopts them). A host
 * started with no process left alive gets an empty /run/libvirt, as a rebooted machine would.
 *
 * Every external command runs with a timeout; everything is idempotent.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const LAB_BRIDGE = "vmdlab0";
export const LAB_GATEWAY = "10.77.0.1";
export const LAB_MAX_HOSTS = 20;
const COMMAND_TIMEOUT_MS = 20_000;
const DAEMON_READY_TIMEOUT_MS = 30_000;
/** The DN every lab daemon requires of its clients (tls_allowed_dn_list). */
const CLIENT_CN = "vmdesk-portal";
/** The DN lab hosts present to each other (peer-to-peer live migration: the source daemon is the client). */
const PEER_CN = "vmdesk-lab-host";
const BIND_DIRS = {
  // libvirt's default TLS client credentials: what a host's daemon presents to another (migration).
  pki: "/etc/pki",
  etc: "/etc/libvirt",
  run: "/run/libvirt",
  lib: "/var/lib/libvirt",
  log: "/var/log/libvirt",
  cache: "/var/cache/libvirt",
} as const;
/** Where each lab host keeps its vmdesk storage pool: inside its private /var/lib/libvirt. */
export const LAB_POOL_PATH = "/var/lib/libvirt/vmdesk-pool";

export interface LabPaths {
  root: string;
  pki: string;
  shared: string;
  hosts: string;
  /** The client credentials the portal passes as `pkipath=` (inside the host-credentials directory). */
  clientPki: string;
}

export interface LabHost {
  name: string;
  index: number;
  address: string;
  netns: string;
  dir: string;
  /** The URI the portal registers: authenticated TLS, certificate checked against the lab CA. */
  uri: string;
}

export interface LabHostStatus extends LabHost {
  /** Network namespace present. */
  exists: boolean;
  daemonPid: number | null;
  /** Every process alive in the host's namespace (daemons, QEMU, dnsmasq). */
  processes: { pid: number; command: string }[];
}

export function labPaths(dataDir: string, credentialsDir: string): LabPaths {
  const root = path.join(path.resolve(dataDir), "lab");
  return {
    root,
    pki: path.join(root, "pki"),
    shared: path.join(root, "shared"),
    hosts: path.join(root, "hosts"),
    clientPki: path.join(path.resolve(credentialsDir), "lab-client"),
  };
}

export function labHost(paths: LabPaths, index: number): LabHost {
  if (!Number.isInteger(index) || index < 1 || index > LAB_MAX_HOSTS) throw new Error(`lab host number must be 1-${LAB_MAX_HOSTS}`);
  const name = `lab${index}`;
  const address = `10.77.0.${10 + index}`;
  return {
    name,
    index,
    address,
    netns: `vmdesk-${name}`,
    dir: path.join(paths.hosts, name),
    uri: `qemu+tls://${address}/system?pkipath=${paths.clientPki}`,
  };
}

/** `lab3` → 3; anything else is refused (names reach command lines). */
export function labHostIndex(name: string): number {
  const m = /^lab([1-9][0-9]?)$/.exec(name);
  if (!m || Number(m[1]) > LAB_MAX_HOSTS) throw new Error(`not a lab host name: ${JSON.stringify(name)} (lab1-lab${LAB_MAX_HOSTS})`);
  return Number(m[1]);
}

function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS, input: opts.input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) {
    if (opts.allowFail) return "";
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

function linkExists(name: string, netns?: string): boolean {
  const args = netns ? ["-n", netns, "link", "show", name] : ["link", "show", name];
  return run("ip", args, { allowFail: true }) !== "";
}

/** Names of the network links in a namespace. */
function linksIn(netns: string): string[] {
  if (!netnsExists(netns)) return [];
  return run("ip", ["-n", netns, "-o", "link", "show"], { allowFail: true })
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

function netnsExists(netns: string): boolean {
  return fs.existsSync(`/run/netns/${netns}`);
}

// ---------------------------------------------------------------------------------------------
// Certificates (openssl): a lab CA, a server certificate per host, one client certificate.

function writeExt(file: string, lines: string[]): void {
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
}

function ensureCa(paths: LabPaths): void {
  fs.mkdirSync(paths.pki, { recursive: true, mode: 0o700 });
  const key = path.join(paths.pki, "cakey.pem");
  const cert = path.join(paths.pki, "cacert.pem");
  if (fs.existsSync(key) && fs.existsSync(cert)) return;
  run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=vmdesk lab CA"]);
  fs.chmodSync(key, 0o600);
}

function signCert(paths: LabPaths, keyFile: string, certFile: string, subject: string, ext: string[]): void {
  const csr = `${certFile}.csr`;
  const extFile = `${certFile}.ext`;
  run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", subject]);
  fs.chmodSync(keyFile, 0o600);
  writeExt(extFile, ext);
  run("openssl", ["x509", "-req", "-in", csr, "-CA", path.join(paths.pki, "cacert.pem"), "-CAkey", path.join(paths.pki, "cakey.pem"), "-CAcreateserial", "-out", certFile, "-days", "3650", "-extfile", extFile]);
  fs.rmSync(csr, { force: true });
  fs.rmSync(extFile, { force: true });
}

function ensureClientCert(paths: LabPaths): void {
  fs.mkdirSync(paths.clientPki, { recursive: true, mode: 0o700 });
  fs.chmodSync(path.dirname(paths.clientPki), 0o700);
  const cert = path.join(paths.clientPki, "clientcert.pem");
  const key = path.join(paths.clientPki, "clientkey.pem");
  if (!fs.existsSync(cert) || !fs.existsSync(key)) {
    signCert(paths, key, cert, `/CN=${CLIENT_CN}`, ["extendedKeyUsage=clientAuth", "keyUsage=digitalSignature,keyEncipherment"]);
  }
  fs.copyFileSync(path.join(paths.pki, "cacert.pem"), path.join(paths.clientPki, "cacert.pem"));
}

/**
 * The host's client identity in its own /etc/pki (libvirt's default paths), for the connections its
 * daemon opens to other lab hosts: peer-to-peer migration.
 */
function ensurePeerClientCert(paths: LabPaths, host: LabHost): void {
  const etcPki = path.join(host.dir, "pki");
  fs.mkdirSync(path.join(etcPki, "CA"), { recursive: true });
  fs.mkdirSync(path.join(etcPki, "libvirt", "private"), { recursive: true, mode: 0o700 });
  fs.copyFileSync(path.join(paths.pki, "cacert.pem"), path.join(etcPki, "CA", "cacert.pem"));
  const cert = path.join(etcPki, "libvirt", "clientcert.pem");
  const key = path.join(etcPki, "libvirt", "private", "clientkey.pem");
  if (!fs.existsSync(cert) || !fs.existsSync(key)) {
    signCert(paths, key, cert, `/CN=${PEER_CN}`, ["extendedKeyUsage=clientAuth", "keyUsage=digitalSignature,keyEncipherment"]);
  }
}

/**
 * Guest displays listen on the host's network, so they take TLS viewers with a certificate from the
 * lab CA only (the portal's): QEMU's VeNCrypt x509 mode, what a real remote host must configure too.
 */
const VNC_TLS_CONF = [
  "",
  "# vmdesk lab:hosts: displays only over TLS, client certificate required (the portal's).",
  "vnc_tls = 1",
  'vnc_tls_x509_cert_dir = "/etc/pki/libvirt-vnc"',
  "vnc_tls_x509_verify = 1",
  "",
].join("\n");

/**
 * Disk leases (libvirt's `lockd` lock manager, held by `virtlockd`): a guest's writable disks are
 * leased in a lockspace on the shared storage before QEMU may start, so no two hosts can run the same
 * disk at once. The lease dies with the QEMU process or with the host's virtlockd (a power loss), and
 * outlives libvirtd (a daemon that died does not free a guest that still runs). This is what makes an
 * HA restart safe: a second copy is refused while the first still holds its disk.
 */
const LOCKD_QEMU_CONF = ["", "# vmdesk lab:hosts: disk leases on the shared storage (HA fencing).", 'lock_manager = "lockd"', ""].join("\n");

function lockdConf(lockspace: string): string {
  return [
    "# Written by vmdesk's lab:hosts; rewritten at every `up`.",
    "auto_disk_leases = 1",
    "require_lease_for_disks = 1",
    `file_lockspace_dir = ${JSON.stringify(lockspace)}`,
    "",
  ].join("\n");
}

/** Where every lab host keeps its disk leases: on the shared storage, so all hosts see the same ones. */
export function lockspaceDir(paths: LabPaths): string {
  return path.join(paths.shared, "lockd");
}

/** The host's server certificate where QEMU looks for it (/etc/pki/libvirt-vnc), readable by QEMU's user. */
function installVncCerts(paths: LabPaths, host: LabHost, server: { cert: string; key: string }): void {
  const dir = path.join(host.dir, "pki", "libvirt-vnc");
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(paths.pki, "cacert.pem"), path.join(dir, "ca-cert.pem"));
  fs.copyFileSync(server.cert, path.join(dir, "server-cert.pem"));
  fs.copyFileSync(server.key, path.join(dir, "server-key.pem"));
  const qemuGid = Number(run("getent", ["group", "libvirt-qemu"], { allowFail: true }).split(":")[2] ?? NaN);
  const gid = Number.isInteger(qemuGid) ? qemuGid : 0;
  fs.chownSync(dir, 0, gid);
  fs.chmodSync(dir, 0o750);
  for (const f of ["ca-cert.pem", "server-cert.pem", "server-key.pem"]) {
    fs.chownSync(path.join(dir, f), 0, gid);
    fs.chmodSync(path.join(dir, f), f === "server-key.pem" ? 0o640 : 0o644);
  }
}

function ensureServerCert(paths: LabPaths, host: LabHost): { cert: string; key: string } {
  const pki = path.join(host.dir, "server-pki");
  fs.mkdirSync(pki, { recursive: true, mode: 0o700 });
  const cert = path.join(pki, "servercert.pem");
  const key = path.join(pki, "serverkey.pem");
  if (!fs.existsSync(cert) || !fs.existsSync(key)) {
    signCert(paths, key, cert, `/CN=${host.name}`, [
      `subjectAltName=IP:${host.address},DNS:${host.name}`,
      "extendedKeyUsage=serverAuth",
      "keyUsage=digitalSignature,keyEncipherment",
    ]);
  }
  return { cert, key };
}

// ---------------------------------------------------------------------------------------------
// Network: one bridge in this namespace, one veth pair per host.

function ensureBridge(): void {
  if (!linkExists(LAB_BRIDGE)) run("ip", ["link", "add", LAB_BRIDGE, "type", "bridge"]);
  if (!run("ip", ["-4", "addr", "show", "dev", LAB_BRIDGE]).includes(`${LAB_GATEWAY}/24`)) {
    run("ip", ["addr", "add", `${LAB_GATEWAY}/24`, "dev", LAB_BRIDGE]);
  }
  run("ip", ["link", "set", LAB_BRIDGE, "up"]);
}

function ensureNetns(host: LabHost): void {
  if (!netnsExists(host.netns)) run("ip", ["netns", "add", host.netns]);
  const outer = `vmdl${host.index}`;
  if (!linkExists("eth0", host.netns)) {
    if (linkExists(outer)) run("ip", ["link", "del", outer]);
    run("ip", ["link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", host.netns]);
  }
  run("ip", ["link", "set", outer, "master", LAB_BRIDGE, "up"]);
  if (!run("ip", ["-n", host.netns, "-4", "addr", "show", "dev", "eth0"]).includes(`${host.address}/24`)) {
    run("ip", ["-n", host.netns, "addr", "add", `${host.address}/24`, "dev", "eth0"]);
  }
  run("ip", ["-n", host.netns, "link", "set", "eth0", "up"]);
  run("ip", ["-n", host.netns, "link", "set", "lo", "up"]);
}

// ---------------------------------------------------------------------------------------------
// Daemons.

/** libvirtd.conf of a lab host: TLS only, certificate required, only our client's DN admitted. */
function libvirtdConf(host: LabHost, caFile: string, server: { cert: string; key: string }, hostUuid: string): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    "# Written by vmdesk's lab:hosts; rewritten at every `up`.",
    "listen_tls = 1",
    "listen_tcp = 0",
    `listen_addr = ${q(host.address)}`,
    'auth_tls = "none"',
    "tls_no_verify_certificate = 0",
    `tls_allowed_dn_list = [${q(`CN=${CLIENT_CN}`)}, ${q(`CN=${PEER_CN}`)}]`,
    `ca_file = ${q(caFile)}`,
    `cert_file = ${q(server.cert)}`,
    `key_file = ${q(server.key)}`,
    // Live migration refuses a destination that reports the source's host UUID.
    `host_uuid = ${q(hostUuid)}`,
    "",
  ].join("\n");
}

/**
 * The directories the libvirt packages create under /var/lib, /var/log and /var/cache (and which the
 * daemon expects to exist: virtlogd cannot create a guest's log in a missing /var/log/libvirt/qemu),
 * copied one level deep with this machine's owners and modes.
 */
function mirrorPackageDirs(host: LabHost): void {
  for (const [sub, target] of Object.entries(BIND_DIRS)) {
    fs.mkdirSync(path.join(host.dir, sub), { recursive: true });
    if (sub === "etc" || sub === "run" || sub === "pki" || !fs.existsSync(target)) continue;
    for (const entry of fs.readdirSync(target, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dest = path.join(host.dir, sub, entry.name);
      const st = fs.statSync(path.join(target, entry.name));
      if (!fs.existsSync(dest)) fs.mkdirSync(dest);
      fs.chownSync(dest, st.uid, st.gid);
      fs.chmodSync(dest, st.mode & 0o7777);
    }
  }
}

function prepareHostDirs(paths: LabPaths, host: LabHost): void {
  mirrorPackageDirs(host);
  const etc = path.join(host.dir, "etc");
  // This machine's QEMU settings (host-setup's `namespaces = [ ]`) and the stock filters; never its domains or networks.
  for (const file of ["qemu.conf", "virtlogd.conf"]) {
    const src = path.join("/etc/libvirt", file);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(etc, file));
  }
  fs.appendFileSync(path.join(etc, "qemu.conf"), VNC_TLS_CONF + LOCKD_QEMU_CONF);
  fs.mkdirSync(lockspaceDir(paths), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(etc, "qemu-lockd.conf"), lockdConf(lockspaceDir(paths)));
  const filters = path.join(etc, "nwfilter");
  fs.mkdirSync(filters, { recursive: true });
  if (fs.existsSync("/etc/libvirt/nwfilter")) {
    for (const f of fs.readdirSync("/etc/libvirt/nwfilter")) {
      if (f.endsWith(".xml") && !f.startsWith("vmdesk-") && !fs.existsSync(path.join(filters, f))) {
        fs.copyFileSync(path.join("/etc/libvirt/nwfilter", f), path.join(filters, f));
      }
    }
  }
  const uuidFile = path.join(host.dir, "host-uuid");
  if (!fs.existsSync(uuidFile)) fs.writeFileSync(uuidFile, `${randomUUID()}\n`);
  const hostUuid = fs.readFileSync(uuidFile, "utf8").trim();
  const server = ensureServerCert(paths, host);
  ensurePeerClientCert(paths, host);
  installVncCerts(paths, host, server);
  // The mount point for the host's own /etc/pki (libvirt's default TLS location; absent on Debian).
  fs.mkdirSync("/etc/pki", { recursive: true });
  fs.writeFileSync(path.join(etc, "libvirtd.conf"), libvirtdConf(host, path.join(paths.pki, "cacert.pem"), server, hostUuid));
}

export function hostProcesses(host: LabHost): { pid: number; command: string }[] {
  if (!netnsExists(host.netns)) return [];
  const pids = run("ip", ["netns", "pids", host.netns], { allowFail: true })
    .split("\n")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  const out: { pid: number; command: string }[] = [];
  for (const pid of pids) {
    try {
      out.push({ pid, command: fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function daemonPid(host: LabHost): number | null {
  const file = path.join(host.dir, "run", "libvirtd.pid");
  if (!fs.existsSync(file)) return null;
  const pid = Number(fs.readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return hostProcesses(host).some((p) => p.pid === pid && p.command === "libvirtd") ? pid : null;
}

/**
 * Starts whichever of virtlogd and libvirtd is not running, inside fresh mount + UTS namespaces
 * joined to the host's network namespace. A restarted daemon sees the same directories (the bind
 * sources are fixed), so it finds running guests' monitor sockets and adopts them.
 */
function startDaemons(host: LabHost): void {
  const alive = hostProcesses(host);
  if (alive.length === 0) {
    // Nothing survived: a cold boot, so the host's runtime directory starts empty as tmpfs would,
    // and the virtual links its daemon made (network bridges, guest taps) are gone as after a
    // reboot. Left in place, libvirt refuses to start its network again ("already in use").
    fs.rmSync(path.join(host.dir, "run"), { recursive: true, force: true });
    fs.mkdirSync(path.join(host.dir, "run"), { recursive: true });
    for (const link of linksIn(host.netns)) if (link !== "lo" && link !== "eth0") run("ip", ["-n", host.netns, "link", "del", link], { allowFail: true });
  }
  const needLog = !alive.some((p) => p.command === "virtlogd");
  const needLock = !alive.some((p) => p.command === "virtlockd");
  const needDaemon = daemonPid(host) === null;
  if (!needLog && !needLock && !needDaemon) return;
  const mounts = Object.entries(BIND_DIRS)
    .map(([sub, target]) => `mount --bind "$1/${sub}" ${target}`)
    .join(" && ");
  // Inside the network namespace: a sysfs of that namespace (libvirt reads its bridges and taps
  // there), with this machine's cgroup tree bound back under it (libvirt puts each guest in a cgroup:
  // CPU weights, statistics). `ip netns exec` would remount /sys and lose the cgroups.
  const inner = [
    "mount -t sysfs sysfs /sys",
    "mount --rbind /mnt /sys/fs/cgroup",
    "umount -l /mnt",
    'hostname "$2"',
    mounts,
    needLog ? "virtlogd -d -p /run/libvirt/virtlogd.pid" : "true",
    needLock ? "virtlockd -d -p /run/libvirt/virtlockd.pid" : "true",
    needDaemon ? "libvirtd -d --listen -p /run/libvirt/libvirtd.pid" : "true",
  ].join(" && ");
  const outer = 'mount --rbind /sys/fs/cgroup /mnt && exec nsenter --net="$3" sh -c "$4" sh "$1" "$2"';
  run("unshare", ["--mount", "--uts", "--propagation", "private", "sh", "-c", outer, "sh", host.dir, host.name, `/run/netns/${host.netns}`, inner]);
}

async function waitForDaemon(host: LabHost): Promise<void> {
  const deadline = Date.now() + DAEMON_READY_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    try {
      await execFileAsync("virsh", ["-c", host.uri, "hostname"], { timeout: 5_000 });
      // Ready means ready for QEMU questions too: a fresh daemon probes QEMU's capabilities the first
      // time one is asked (virConnectGetVersion here), which took 7.6 s on this machine and made a
      // client's first call with a 5 s timeout fail.
      await execFileAsync("virsh", ["-c", host.uri, "version"], { timeout: 120_000 });
      return;
    } catch (err) {
      last = (err as { stderr?: string }).stderr?.trim() ?? String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${host.name}: libvirtd did not answer on ${host.address} within ${DAEMON_READY_TIMEOUT_MS / 1000} s: ${last}`);
}

// ---------------------------------------------------------------------------------------------
// Commands.

/** Hosts lab1..labN running and answering over TLS (extra hosts beyond N are left as they are). */
export async function labUp(paths: LabPaths, count: number): Promise<LabHost[]> {
  if (!Number.isInteger(count) || count < 1 || count > LAB_MAX_HOSTS) throw new Error(`host count must be 1-${LAB_MAX_HOSTS}`);
  fs.mkdirSync(paths.root, { recursive: true, mode: 0o755 });
  // QEMU (as libvirt-qemu) opens images on the shared storage: every directory above it must be searchable.
  fs.mkdirSync(paths.shared, { recursive: true });
  fs.chmodSync(paths.shared, 0o755);
  ensureCa(paths);
  ensureClientCert(paths);
  ensureBridge();
  const hosts = Array.from({ length: count }, (_, i) => labHost(paths, i + 1));
  for (const host of hosts) {
    prepareHostDirs(paths, host);
    ensureNetns(host);
    startDaemons(host);
  }
  await Promise.all(hosts.map((h) => waitForDaemon(h)));
  return hosts;
}

/** Every lab host that has a directory or a namespace. */
export function labHosts(paths: LabPaths): LabHost[] {
  const indexes = new Set<number>();
  if (fs.existsSync(paths.hosts)) {
    for (const name of fs.readdirSync(paths.hosts)) {
      try {
        indexes.add(labHostIndex(name));
      } catch {
        // not ours
      }
    }
  }
  if (fs.existsSync("/run/netns")) {
    for (const ns of fs.readdirSync("/run/netns")) {
      if (ns.startsWith("vmdesk-lab")) {
        try {
          indexes.add(labHostIndex(ns.slice("vmdesk-".length)));
        } catch {
          // not ours
        }
      }
    }
  }
  return [...indexes].sort((a, b) => a - b).map((i) => labHost(paths, i));
}

export function labStatus(paths: LabPaths): LabHostStatus[] {
  return labHosts(paths).map((h) => ({ ...h, exists: netnsExists(h.netns), daemonPid: daemonPid(h), processes: hostProcesses(h) }));
}

/** SIGKILL every process of one host at once (QEMU included): what a power loss does to it. */
export function labKill(paths: LabPaths, name: string): number {
  const host = labHost(paths, labHostIndex(name));
  const procs = hostProcesses(host);
  for (const p of procs) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  waitGone(host, () => hostProcesses(host).length === 0);
  return procs.length;
}

/** SIGKILL only the host's libvirtd: its guests (and virtlogd) keep running. */
export function labKillDaemon(paths: LabPaths, name: string): number | null {
  const host = labHost(paths, labHostIndex(name));
  const pid = daemonPid(host);
  if (pid === null) return null;
  process.kill(pid, "SIGKILL");
  waitGone(host, () => !hostProcesses(host).some((p) => p.pid === pid));
  return pid;
}

function waitGone(host: LabHost, done: () => boolean): void {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${host.name}: processes still alive 10 s after SIGKILL`);
    execFileSync("sleep", ["0.05"]);
  }
}

/** Kills every lab host with its guests, removes namespaces, links and their directories (the CA stays). */
export function labDown(paths: LabPaths): LabHost[] {
  const hosts = labHosts(paths);
  for (const host of hosts) {
    labKill(paths, host.name);
    if (linkExists(`vmdl${host.index}`)) run("ip", ["link", "del", `vmdl${host.index}`], { allowFail: true });
    if (netnsExists(host.netns)) run("ip", ["netns", "del", host.netns]);
    fs.rmSync(host.dir, { recursive: true, force: true });
  }
  if (linkExists(LAB_BRIDGE)) run("ip", ["link", "del", LAB_BRIDGE], { allowFail: true });
  fs.rmSync(paths.shared, { recursive: true, force: true });
  return hosts;
}
