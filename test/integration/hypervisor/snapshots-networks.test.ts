/**
 * Snapshots and isolated networks through LibvirtHostConnection on the real qemu:///system: a linked
 * clone of the demo image on an isolated network boots, takes an internal snapshot (idempotently),
 * lists it, reverts to it (plain and forced paused), deletes it (idempotently), and is undefined
 * while it still has an internal snapshot; the network is ensured and deleted idempotently. A
 * second, DHCP-serving isolated network runs when the host has dnsmasq.
 *
 * Every object is named vmdesk-snaptest-*: the libvirtd is shared.
 * Env: VMDESK_DEMO_IMAGE_DIR  directory holding vmdesk-demo.qcow2 (default: .vmdesk/images).
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIR_ERR } from "../../../server/hypervisor/driver.ts";
import { LibvirtHostConnection } from "../../../server/hypervisor/libvirt/libvirt-host.ts";
import { nativeLibvirt } from "../../../server/hypervisor/libvirt/native-binding.ts";
import { buildDomainXml, buildIsolatedNetworkXml, buildSnapshotXml, parseDomainXml } from "../../../server/hypervisor/xml/index.ts";

const run = promisify(execFile);
const URI = "qemu:///system";
const READY_MARKER = "vmdesk-demo-ready";
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const IMAGE = path.join(process.env.VMDESK_DEMO_IMAGE_DIR ?? path.join(REPO, ".vmdesk/images"), "vmdesk-demo.qcow2");
/** QEMU runs as libvirt-qemu: the overlay and serial log live where it can traverse. */
const TEST_ROOT = "/var/lib/vmdesk-test";


const suffix = randomBytes(4).toString("hex");
const domainName = `vmdesk-snaptest-${suffix}`;
const netName = `vmdesk-snaptest-${suffix}`;
const dhcpNetName = `vmdesk-snaptest-dhcp-${suffix}`;

let workDir = "";
let host: LibvirtHostConnection;

async function virsh(...args: string[]): Promise<string> {
  const { stdout } = await run("virsh", ["-c", URI, ...args], { timeout: 30_000 });
  return stdout;
}

async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

beforeAll(async () => {
  await mkdir(TEST_ROOT, { recursive: true, mode: 0o755 });
  workDir = await mkdtemp(path.join(TEST_ROOT, "snaptest-"));
  await chmod(workDir, 0o755);
  host = new LibvirtHostConnection({ uri: URI, callTimeoutMs: 60_000 });
  await host.listDomains(); // waits for the open
}, 60_000);

afterAll(async () => {
  for (const args of [
    ["destroy", domainName],
    ["undefine", domainName, "--snapshots-metadata"],
    ["net-destroy", netName],
    ["net-undefine", netName],
    ["net-destroy", dhcpNetName],
    ["net-undefine", dhcpNetName],
  ]) {
    await virsh(...args).catch(() => undefined);
  }
  await host?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe("snapshots and isolated networks on qemu:///system", () => {
  it("runs a guest on an isolated network and snapshots, reverts and deletes it", { timeout: 240_000 }, async () => {
    const netXml = buildIsolatedNetworkXml({ name: netName });
    const net = await host.ensureNetwork(netName, netXml);
    expect(net.name).toBe(netName);
    expect(net.bridge).toMatch(/^virbr\d+$/);
    expect(await host.ensureNetwork(netName, netXml)).toEqual(net); // idempotent
    const info = await virsh("net-info", netName);
    expect(info).toMatch(/Active:\s+yes/);
    expect(info).toMatch(/Autostart:\s+yes/);
    expect(await virsh("net-dumpxml", netName)).not.toContain("<forward");

    const overlay = path.join(workDir, "x.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", IMAGE, "-F", "qcow2", overlay]);
    const serialLog = path.join(workDir, "serial.log");
    await host.defineDomain(
      buildDomainXml({
        name: domainName,
        uuid: randomUUID(),
        title: "snapshot test",
        vcpus: 1,
        memoryMiB: 128,
        domainType: "qemu",
        cpuMode: "none",
        tcgTbCacheMiB: 32,
        disks: [{ path: overlay, format: "qcow2", device: "disk" }],
        boot: ["hd"],
        network: { type: "network", name: netName },
        graphics: { listen: "127.0.0.1" },
        serialLogPath: serialLog,
        metadata: { vmId: domainName, ownerId: "integration-test" },
      }),
    );
    await host.startDomain(domainName);
    await waitFor(`${READY_MARKER} on the serial log`, 60_000, async () =>
      (await readFile(serialLog, "utf8").catch(() => "")).includes(READY_MARKER),
    );
    const live = await host.domainXml(domainName);
    expect(live).toContain(`network='${netName}'`);
    expect(live).toContain(`bridge='${net.bridge}'`);

    expect(await host.listSnapshots(domainName)).toEqual([]);
    const before = Date.now();
    const [, createMs] = await timed(() => host.createSnapshot(domainName, "s1", "before the exam <&>"));
    const [, againMs] = await timed(() => host.createSnapshot(domainName, "s1")); // idempotent
    const snaps = await host.listSnapshots(domainName);
    expect(snaps).toEqual([{ name: "s1", createdAt: expect.any(Date), state: "running", description: "before the exam <&>" }]);
    expect(Math.abs(snaps[0]!.createdAt.getTime() - before)).toBeLessThan(60_000);
    expect(await host.domainState(domainName)).toBe("running");

    // The code createSnapshot's idempotency relies on, straight from libvirt: a duplicate name.
    const native = new (nativeLibvirt().Connection)(() => undefined, { maxThreads: 1, callTimeoutMs: 30_000 });
    try {
      await native.open(URI, 0, 0);
      const dup = await native.createSnapshot(domainName, buildSnapshotXml({ name: "s1" })).catch((e: unknown) => e);
      expect(dup).toMatchObject({ code: VIR_ERR.OPERATION_FAILED });
      console.info(`[snapshots] duplicate create: code ${(dup as { code: number }).code}: ${(dup as Error).message}`);
    } finally {
      await native.close();
    }

    const vncBefore = parseDomainXml(await host.domainXml(domainName)).vnc?.port;
    const [, revertMs] = await timed(() => host.revertSnapshot(domainName, "s1"));
    expect(await host.domainState(domainName)).toBe("running");
    const vncAfter = parseDomainXml(await host.domainXml(domainName)).vnc?.port;
    const [, revertPausedMs] = await timed(() => host.revertSnapshot(domainName, "s1", { paused: true }));
    expect(await host.domainState(domainName)).toBe("paused");
    await host.resumeDomain(domainName);
    expect(await host.domainState(domainName)).toBe("running");
    await expect(host.revertSnapshot(domainName, "absent")).rejects.toMatchObject({ code: VIR_ERR.NO_DOMAIN_SNAPSHOT });

    const [, deleteMs] = await timed(() => host.deleteSnapshot(domainName, "s1"));
    await host.deleteSnapshot(domainName, "s1"); // absent: no-op
    expect(await host.listSnapshots(domainName)).toEqual([]);
    console.info(
      `[snapshots] create ${createMs.toFixed(0)} ms, create again (exists) ${againMs.toFixed(0)} ms, ` +
        `revert ${revertMs.toFixed(0)} ms (VNC ${vncBefore} → ${vncAfter}), revert paused ${revertPausedMs.toFixed(0)} ms, ` +
        `delete ${deleteMs.toFixed(0)} ms`,
    );

    // A domain that still has an internal snapshot can be destroyed and undefined.
    await host.createSnapshot(domainName, "s2");
    await host.destroyDomain(domainName);
    expect((await host.listSnapshots(domainName)).map((s) => s.name)).toEqual(["s2"]);
    await host.undefineDomain(domainName);
    expect(await host.domainState(domainName)).toBeNull();
    await expect(host.listSnapshots(domainName)).rejects.toMatchObject({ code: VIR_ERR.NO_DOMAIN });

    await host.deleteNetwork(netName);
    await host.deleteNetwork(netName); // absent: no-op
    await expect(virsh("net-info", netName)).rejects.toThrow();
  });

  it("starts an isolated network that serves DHCP (dnsmasq) and removes it", { timeout: 60_000 }, async () => {
    const xml = buildIsolatedNetworkXml({
      name: dhcpNetName,
      ipv4: { address: "10.213.79.1", netmask: "255.255.255.0", dhcpStart: "10.213.79.10", dhcpEnd: "10.213.79.99" },
    });
    const net = await host.ensureNetwork(dhcpNetName, xml);
    expect(await host.ensureNetwork(dhcpNetName, xml)).toEqual(net);
    const pidFile = `/run/libvirt/network/${dhcpNetName}.pid`;
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(await readFile(`/proc/${pid}/cmdline`, "utf8")).toContain("dnsmasq");
    const { stdout } = await run("ip", ["-4", "-br", "addr", "show", "dev", net.bridge]);
    expect(stdout).toContain("10.213.79.1/24");
    await host.deleteNetwork(dhcpNetName);
    await host.deleteNetwork(dhcpNetName);
    await waitFor("dnsmasq to exit", 10_000, async () => !existsSync(`/proc/${pid}`) || !(await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).includes("dnsmasq"));
  });
});
