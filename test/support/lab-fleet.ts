/**
 * A portal whose fleet is `count` lab hosts (scripts/lab: real libvirt daemons over qemu+tls): the
 * local host disabled, the demo qcow2 on the lab's shared storage as an image every lab host reaches,
 * and every lab host measured and `up` before the suite starts. `down()` removes the lab hosts.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import path from "node:path";
import { config } from "../../server/config.ts";
import { db } from "../../server/db/client.ts";
import { LibvirtHostConnection } from "../../server/hypervisor/libvirt/libvirt-host.ts";
import { hostProcesses, labDown, labPaths, labUp, type LabHost, type LabPaths } from "../../scripts/lab/lab-hosts.ts";
import { registerLabHosts } from "../../scripts/lab/register.ts";
import { demoImageDir, startPortal, waitFor, type Portal } from "./harness.ts";

export interface LabFleet {
  portal: Portal;
  paths: LabPaths;
  lab: LabHost[];
  /** The shared demo image. */
  imageId: string;
}

export async function startLabFleet(dbName: string, count: number): Promise<LabFleet> {
  const portal = await startPortal(dbName);
  const cfg = config();
  const paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
  const lab = await labUp(paths, count);
  const rows = await registerLabHosts(db(), lab, cfg.hostCredentialsDir);
  await db().host.update({ where: { id: portal.hostId }, data: { enabled: false } });
  mkdirSync(paths.shared, { recursive: true });
  const file = path.join(paths.shared, "vmdesk-demo.qcow2");
  copyFileSync(path.join(demoImageDir, "vmdesk-demo.qcow2"), file);
  const imageId = (await db().image.create({ data: { name: "lab demo (shared)", path: file, format: "qcow2", minDiskGiB: 1, shared: true, hostId: rows[0]!.id } })).id;
  await waitFor("the lab hosts measured and up", async () => {
    const hosts = await portal.caller(portal.admin).host.list();
    const up = hosts.filter((h) => h.name.startsWith("lab") && h.state === "up" && h.capacity.vcpus !== null);
    return up.length === count ? true : null;
  }, 60_000);
  return { portal, paths, lab, imageId };
}

export async function stopLabFleet(fleet: Partial<LabFleet>): Promise<void> {
  await fleet.portal?.close();
  if (fleet.paths) labDown(fleet.paths);
}

const execFileAsync = promisify(execFile);

/** Domains whose QEMU process lives in the host's namespace, whatever its daemon says (or if it is dead). */
export function qemuDomainsOn(host: LabHost): string[] {
  const out: string[] = [];
  for (const p of hostProcesses(host)) {
    if (!p.command.startsWith("qemu")) continue;
    try {
      const argv = readFileSync(`/proc/${p.pid}/cmdline`, "latin1").split("\0");
      const name = argv[argv.indexOf("-name") + 1]?.match(/guest=([^,]+)/)?.[1];
      if (name) out.push(name);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** True while the host's libvirtd process lives, answering or not (its pid file and /proc: no process spawned). */
function daemonLives(host: LabHost): boolean {
  try {
    const pid = Number(readFileSync(path.join(host.dir, "run", "libvirtd.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "libvirtd";
  } catch {
    return false;
  }
}

/**
 * Guests running on a lab host: its daemon's answer (`virsh list --state-running`) while the daemon
 * lives, however slowly it answers; every QEMU process in its namespace only once the daemon is dead
 * (a dead daemon's guests run on). A QEMU that libvirt is still starting (paused, its disk not yet
 * opened or leased) is not running: the process list would count it, so it is never used for a host
 * whose daemon lives. A live daemon is asked again until it answers; throws after 20 s of silence.
 */
export async function runningGuestsOn(host: LabHost): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    // Dead (or died while we asked): what runs there is what its QEMU processes run.
    if (!daemonLives(host)) return qemuDomainsOn(host);
    try {
      const { stdout } = await execFileAsync("virsh", ["-q", "-c", host.uri, "list", "--state-running", "--name"], { timeout: Math.max(1_000, deadline - Date.now()) });
      return stdout.split("\n").map((s) => s.trim()).filter(Boolean);
    } catch (err) {
      // A daemon that is starting (not listening yet) or busy: ask again until the deadline.
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Samples every lab host's running guests every `everyMs` (asynchronously, so the portal in this
 * process keeps running) and records each sample in which one guest ran on two hosts.
 */
export function watchForDuplicates(lab: readonly LabHost[], everyMs = 200) {
  const seen: string[] = [];
  let samples = 0;
  let unanswered = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const answers = await Promise.allSettled(lab.map((h) => runningGuestsOn(h)));
      // A sample with a host that did not answer is not a sample (counted apart, never a duplicate).
      if (answers.some((a) => a.status === "rejected")) {
        unanswered++;
        await new Promise((r) => setTimeout(r, everyMs));
        continue;
      }
      const lists = answers.map((a) => (a as PromiseFulfilledResult<string[]>).value);
      samples++;
      const count = new Map<string, string[]>();
      lists.forEach((names, i) => names.forEach((d) => count.set(d, [...(count.get(d) ?? []), lab[i]!.name])));
      for (const [d, hosts] of count) if (hosts.length > 1) seen.push(`${new Date().toISOString()} ${d} running on ${hosts.join(" and ")}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
    get duplicates(): readonly string[] {
      return seen;
    },
    get samples() {
      return samples;
    },
    /** Rounds dropped because a live daemon did not answer within 20 s. */
    get unanswered() {
      return unanswered;
    },
  };
}

/**
 * Types a line into the guest's serial console: on a lab host it is a pty reached through libvirt's
 * console stream (virDomainOpenConsole over the host's TLS connection), as the portal reaches it.
 */
export async function typeOnSerial(host: LabHost, domain: string, line: string): Promise<void> {
  const conn = new LibvirtHostConnection({ uri: host.uri, callTimeoutMs: 10_000 });
  try {
    const stream = await conn.openConsole(domain, { force: true });
    let echoed = "";
    stream.onData((chunk) => (echoed += chunk.toString("latin1")));
    await stream.write(Buffer.from(`\r\n${line}\r\n`));
    // Closed once the guest has echoed the line: input the host has not handed to the guest when the
    // stream closes is dropped by libvirt.
    await waitFor("the guest to echo the typed line", async () => echoed.includes(line.slice(0, 20)), 10_000, 50);
    await stream.close();
  } finally {
    await conn.close();
  }
}

