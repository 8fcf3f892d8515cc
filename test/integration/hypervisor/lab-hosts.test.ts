/**
 * Lab hosts (scripts/lab/lab-hosts.ts) are separate libvirt daemons reached the way a remote host
 * is: qemu+tls with a client certificate. Each has its own hostname, domains and runtime state; a
 * client without the certificate is refused; a guest survives its daemon's death and is adopted by
 * the next daemon; a power loss (`kill`) takes the guest down with the daemon.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HypervisorError } from "../../../server/hypervisor/driver.ts";
import { LibvirtHostConnection } from "../../../server/hypervisor/libvirt/libvirt-host.ts";
import { buildDomainXml } from "../../../server/hypervisor/xml/index.ts";
import { hostProcesses, labDown, labHost, labKill, labKillDaemon, labPaths, labStatus, labUp, type LabPaths } from "../../../scripts/lab/lab-hosts.ts";
import { dataDir, demoImageDir, waitFor } from "../../support/harness.ts";

const READY_MARKER = "vmdesk-demo-ready";

describe("lab hosts", () => {
  let paths: LabPaths;
  let lab1: LibvirtHostConnection;
  let lab2: LibvirtHostConnection;
  const guest = `vmdesk-labtest-${randomUUID().slice(0, 8)}`;
  let serialLog = "";

  beforeAll(async () => {
    paths = labPaths(dataDir, path.join(dataDir, "host-credentials"));
    await labUp(paths, 2);
    lab1 = new LibvirtHostConnection({ uri: labHost(paths, 1).uri, callTimeoutMs: 5_000 });
    lab2 = new LibvirtHostConnection({ uri: labHost(paths, 2).uri, callTimeoutMs: 5_000 });
  }, 120_000);

  afterAll(async () => {
    await lab1?.close();
    await lab2?.close();
    if (paths) labDown(paths);
  }, 60_000);

  it("are separate daemons, each answering over TLS with its own hostname and domains", async () => {
    expect((await lab1.hostFacts()).hostname).toBe("lab1");
    expect((await lab2.hostFacts()).hostname).toBe("lab2");
    expect(await lab1.listDomains()).toEqual([]);
    expect(labStatus(paths).map((s) => [s.name, s.daemonPid !== null])).toEqual([
      ["lab1", true],
      ["lab2", true],
    ]);
  });

  it("refuses a client that has the CA but no client certificate", async () => {
    const noCert = path.join(dataDir, "lab-test-no-cert");
    mkdirSync(noCert, { recursive: true });
    copyFileSync(path.join(paths.clientPki, "cacert.pem"), path.join(noCert, "cacert.pem"));
    const stranger = new LibvirtHostConnection({ uri: `qemu+tls://${labHost(paths, 1).address}/system?pkipath=${noCert}`, callTimeoutMs: 5_000 });
    try {
      await expect(stranger.listDomains()).rejects.toBeInstanceOf(HypervisorError);
    } finally {
      await stranger.close();
    }
  });

  it("a guest outlives its daemon (adopted by the next one) but not a power loss", { timeout: 150_000 }, async () => {
    const iso = path.join(paths.shared, "vmdesk-demo.iso");
    copyFileSync(path.join(demoImageDir, "vmdesk-demo.iso"), iso);
    serialLog = path.join(paths.shared, `${guest}.serial.log`);
    const xml = buildDomainXml({
      name: guest,
      uuid: randomUUID(),
      title: "lab host test guest",
      vcpus: 1,
      memoryMiB: 96,
      domainType: "qemu",
      cpuMode: "none",
      tcgTbCacheMiB: 32,
      disks: [{ path: iso, format: "raw", device: "cdrom" }],
      boot: ["cdrom"],
      network: null,
      graphics: { unixSocket: true },
      serialLogPath: serialLog,
      metadata: { vmId: guest, ownerId: "integration-test" },
    });
    await lab1.defineDomain(xml);
    await lab1.startDomain(guest);
    await waitFor("the guest's readiness marker", async () => existsSync(serialLog) && readFileSync(serialLog, "utf8").includes(READY_MARKER), 60_000);
    expect((await lab2.listDomains()).map((d) => d.name)).not.toContain(guest);
    // The host's guests live in cgroups (CPU weights, statistics): the daemon sees this machine's cgroup tree.
    expect(execFileSync("virsh", ["-c", labHost(paths, 1).uri, "schedinfo", guest], { encoding: "utf8", timeout: 10_000 })).toMatch(/cpu_shares\s*:\s*\d+/);

    // The daemon dies; QEMU does not.
    expect(labKillDaemon(paths, "lab1")).not.toBeNull();
    await expect(lab1.listDomains()).rejects.toBeInstanceOf(HypervisorError);
    expect(hostProcesses(labHost(paths, 1)).map((p) => p.command)).toContain("qemu-system-x86");
    expect((await lab2.hostFacts()).hostname).toBe("lab2");

    await labUp(paths, 2);
    await waitFor("lab1's new daemon to report the guest running", async () => (await lab1.domainState(guest).catch(() => null)) === "running", 30_000);

    // Power loss: every process of the host at once; the next boot finds the guest defined but off.
    expect(labKill(paths, "lab1")).toBeGreaterThanOrEqual(3);
    expect(hostProcesses(labHost(paths, 1))).toEqual([]);
    await labUp(paths, 2);
    await waitFor("lab1 to answer after its reboot", async () => (await lab1.domainState(guest).catch(() => null)) === "shutoff", 30_000);
  });
});
