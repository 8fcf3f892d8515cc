/**
 * LibvirtHostConnection against the real qemu:///system: host facts, a tiny domain's lifecycle with
 * events, idempotent destroy/undefine, real error codes, and a dir pool with volumes.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HypervisorError, VIR_ERR, type HostEvent } from "../../../server/hypervisor/driver.ts";
import { DEFAULT_RUNNING_WEIGHT_DIVISOR, LibvirtHostConnection } from "../../../server/hypervisor/libvirt/libvirt-host.ts";

const URI = "qemu:///system";
const suffix = randomBytes(4).toString("hex");
const domainName = `vmdesk-test-${suffix}`;
const poolName = `vmdesk-test-pool-${suffix}`;
const poolDir = `/var/lib/vmdesk-test-pool-${suffix}`;
const volName = `disk-${suffix}.qcow2`;

const domainXml = `<domain type='qemu'>
  <name>${domainName}</name>
  <memory unit='MiB'>96</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
  </devices>
</domain>`;

const volumeXml = `<volume>
  <name>${volName}</name>
  <capacity unit='MiB'>16</capacity>
  <target><format type='qcow2'/><compat>1.1</compat></target>
</volume>`;

function virsh(...args: string[]): void {
  try {
    execFileSync("virsh", ["-c", URI, ...args], { stdio: "ignore" });
  } catch {
    // best-effort cleanup
  }
}

describe("LibvirtHostConnection (qemu:///system)", () => {
  let host: LibvirtHostConnection;
  const events: HostEvent[] = [];

  /** Resolves with the first lifecycle event of our domain named `event` (from any time so far). */
  function lifecycle(event: string, timeoutMs = 20_000): Promise<HostEvent> {
    const seen = () => events.find((e) => e.type === "lifecycle" && e.domainName === domainName && e.event === event);
    return new Promise((resolve, reject) => {
      const hit = seen();
      if (hit) return resolve(hit);
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = host.onEvent(() => {
        const e = seen();
        if (!e) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  beforeAll(async () => {
    // The weight division is off by default (DEFAULT_RUNNING_WEIGHT_DIVISOR); this file checks it on.
    host = new LibvirtHostConnection({ uri: URI, callTimeoutMs: 30_000, runningWeightDivisor: 64 });
    host.onEvent((e) => events.push(e));
    await host.listDomains(); // waits for the open
  }, 60_000);

  afterAll(async () => {
    virsh("destroy", domainName);
    virsh("undefine", domainName, "--nvram");
    virsh("pool-destroy", poolName);
    virsh("pool-undefine", poolName);
    rmSync(poolDir, { recursive: true, force: true });
    await host?.close();
  }, 60_000);

  /** The running domain's CPU weight as libvirt reports it (`virsh schedinfo --live`). */
  const liveCpuShares = (name: string): number =>
    Number(/^cpu_shares\s*:\s*(\d+)/m.exec(execFileSync("virsh", ["-c", "qemu:///system", "schedinfo", "--live", name], { encoding: "utf8" }))?.[1]);

  it("reports connected and sane host facts", { timeout: 30_000 }, async () => {
    expect(host.isConnected).toBe(true);
    expect(events[0]).toEqual({ type: "connected" });
    const facts = await host.hostFacts();
    expect(facts.hostname.length).toBeGreaterThan(0);
    expect(facts.cpus).toBeGreaterThan(0);
    expect(facts.memoryMiB).toBeGreaterThan(256);
    expect(facts.freeMemoryMiB).toBeGreaterThan(0);
    expect(facts.freeMemoryMiB).toBeLessThanOrEqual(facts.memoryMiB);
    expect(facts.libvirtVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(facts.hypervisorVersion).toMatch(/^QEMU \d+\.\d+\.\d+$/);
  });

  // A reading whose caller timed out still holds a native thread until libvirt returns; rounds that
  // queued behind it took every thread of the connection under a class provisioning.
  it("takes one metrics reading at a time: a second while the first is in flight is refused at once", { timeout: 30_000 }, async () => {
    const [first, second] = await Promise.allSettled([host.metricsSample(), host.metricsSample()]);
    expect(first.status).toBe("fulfilled");
    expect(second.status).toBe("rejected");
    expect(String((second as PromiseRejectedResult).reason)).toMatch(/previous reading has not returned yet/);
    const next = await host.metricsSample();
    expect(next.node.memoryTotalKiB).toBeGreaterThan(0);
  });

  it("reports the host's huge pages as capacity (sizes, total and free)", { timeout: 30_000 }, async () => {
    const knob = "/proc/sys/vm/nr_hugepages";
    const before = readFileSync(knob, "utf8").trim();
    try {
      writeFileSync(knob, "4");
      const pages = Number(readFileSync(knob, "utf8").trim());
      expect(pages).toBeGreaterThan(0);
      expect((await host.hostFacts()).hugepages).toContainEqual({ sizeKiB: 2048, total: pages, free: pages });
    } finally {
      writeFileSync(knob, before);
    }
    if (Number(before) === 0) expect((await host.hostFacts()).hugepages.filter((p) => p.sizeKiB === 2048)).toEqual([]);
  });

  it("defines, starts, suspends, resumes, destroys and undefines a domain with events", { timeout: 90_000 }, async () => {
    const uuid = await host.defineDomain(domainXml);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    await lifecycle("defined");
    expect((await host.listDomains()).find((d) => d.name === domainName)).toEqual({
      name: domainName,
      uuid,
      state: "shutoff",
    });
    expect(await host.domainXml(domainName, { inactive: true })).toContain(`<uuid>${uuid}</uuid>`);

    await host.startDomain(domainName);
    const started = await lifecycle("started");
    expect(started).toMatchObject({ uuid, detail: 0 }); // VIR_DOMAIN_EVENT_STARTED_BOOTED
    expect(await host.domainState(domainName)).toBe("running");
    // With runningWeightDivisor 64 a started guest runs at 1/64 of the default CPU weight (cgroup v1
    // cpu.shares 1024, v2 cpu.weight 100), never below 2. The portal's default leaves it alone.
    const defaultWeight = existsSync("/sys/fs/cgroup/cgroup.controllers") ? 100 : 1024;
    const runningWeight = Math.max(2, Math.floor(defaultWeight / 64));
    expect(DEFAULT_RUNNING_WEIGHT_DIVISOR).toBe(1);
    expect(liveCpuShares(domainName)).toBe(runningWeight);
    await host.startDomain(domainName); // already running: no-op
    expect(liveCpuShares(domainName)).toBe(runningWeight); // not divided again
    expect(await host.domainXml(domainName)).toMatch(/<graphics type='vnc' port='\d+'/);

    await host.suspendDomain(domainName);
    await lifecycle("suspended");
    expect(await host.domainState(domainName)).toBe("paused");
    await host.resumeDomain(domainName);
    await lifecycle("resumed");
    expect(await host.domainState(domainName)).toBe("running");

    await host.destroyDomain(domainName);
    await lifecycle("stopped");
    expect(await host.domainState(domainName)).toBe("shutoff");
    await host.destroyDomain(domainName); // not running: no-op

    await host.undefineDomain(domainName);
    await lifecycle("undefined");
    expect(await host.domainState(domainName)).toBeNull();
    await host.destroyDomain(domainName); // absent: no-op
    await host.undefineDomain(domainName); // absent: no-op
  });

  it("rejects with libvirt's own error code", { timeout: 30_000 }, async () => {
    const err = await host.domainXml(`vmdesk-absent-${suffix}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HypervisorError);
    expect(err).toMatchObject({ kind: "libvirt", code: VIR_ERR.NO_DOMAIN, domain: 10 }); // VIR_FROM_QEMU
    await expect(host.startDomain(`vmdesk-absent-${suffix}`)).rejects.toMatchObject({ code: VIR_ERR.NO_DOMAIN });
  });

  it("ensures a dir pool and creates, finds and deletes volumes", { timeout: 60_000 }, async () => {
    const pool = await host.ensureDirPool(poolName, poolDir);
    expect(pool).toMatchObject({ name: poolName, path: poolDir });
    expect(pool.capacityBytes).toBeGreaterThan(0);
    expect(pool.availableBytes).toBeGreaterThan(0);
    expect(await host.ensureDirPool(poolName, poolDir)).toMatchObject({ path: poolDir }); // idempotent

    const path = await host.createVolume(poolName, volumeXml);
    expect(path).toBe(`${poolDir}/${volName}`);
    await expect(host.createVolume(poolName, volumeXml)).rejects.toMatchObject({
      kind: "libvirt",
      code: VIR_ERR.STORAGE_VOL_EXIST,
    });
    expect(await host.volumePath(poolName, volName)).toBe(path);
    await host.deleteVolume(poolName, volName);
    expect(await host.volumePath(poolName, volName)).toBeNull();
    await host.deleteVolume(poolName, volName); // absent: no-op
    await expect(host.createVolume(`vmdesk-absent-${suffix}`, volumeXml)).rejects.toMatchObject({
      code: VIR_ERR.NO_STORAGE_POOL,
    });
  });
});
