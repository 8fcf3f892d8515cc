/**
 * A personal VM's guest must not reach the host it runs on. A real demo guest, created through the
 * worker like any tenant's VM, gets a DHCP lease and then tries (busybox `nc`, typed on its serial
 * console) to open a TCP port this test listens on at 0.0.0.0, on every IPv4 address of the host
 * (the NAT network's gateway among them) and on 10.0.2.2 (QEMU user-mode networking's alias for the
 * host's loopback). The listener must see no connection at all, while the lease came from the
 * vmdesk NAT network's dnsmasq.
 *
 * Also: a domain still defined with user-mode networking (an older definition) is moved onto the
 * NAT network, with its filter, when it is next started.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootedGuest, deleteQuietly, runOnSerial } from "../../support/guest-serial.ts";
import { settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";

const NAT_NETWORK = "vmdesk-nat";
const PROBE_TIMEOUT_S = 4;

let portal: Portal;
let tenant: AuthenticatedUser;
let vm: { id: string; domainName: string } | null = null;
let listener: net.Server;
let listenPort = 0;
/** Every connection the listener accepted: the guest reaching the host. */
const accepted: string[] = [];
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  listener = net.createServer((sock) => {
    accepted.push(`${sock.remoteAddress}:${sock.remotePort} -> ${sock.localAddress}:${sock.localPort}`);
    sockets.add(sock);
    sock.on("error", () => undefined);
    sock.end("vmdesk-host-answered\n");
  });
  await new Promise<void>((resolve) => listener.listen(0, "0.0.0.0", resolve));
  listenPort = (listener.address() as net.AddressInfo).port;
  portal = await startPortal("vmdesk_it_guestnet");
  tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
}, 120_000);

afterAll(async () => {
  await deleteQuietly(portal, tenant, vm);
  await portal?.close();
  // A connection the guest opened never closes once the guest is gone: close it ourselves.
  for (const sock of sockets) sock.destroy();
  await new Promise((resolve) => listener?.close(resolve));
}, 120_000);

function hostIPv4Addresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && a.family === "IPv4" && !a.address.startsWith("127."))
    .map((a) => a.address);
}

describe("personal VM networking", () => {
  it("a guest gets a DHCP lease from the NAT network but cannot open a TCP port on any host address", async () => {
    const api = portal.caller(tenant);
    vm = await bootedGuest(portal, tenant, "net probe");

    const dhcp = await runOnSerial(vm.domainName, "udhcpc -i eth0 -n -q -t 8 -T 2", "vmdesk-dhcp-done", 60_000);
    const lease = /vmdesk-lease (\S+) router (\S+) server (\S+)/.exec(dhcp);

    const targets = [...new Set([...hostIPv4Addresses(), "10.0.2.2"])];
    const probe = targets
      .map((a) => `if echo x | timeout ${PROBE_TIMEOUT_S} nc ${a} ${listenPort}; then echo "vmdesk-reached ${a}"; else echo "vmdesk-blocked ${a}"; fi`)
      .join("; ");
    const probeOut = await runOnSerial(vm.domainName, probe, "vmdesk-probe-done", targets.length * (PROBE_TIMEOUT_S + 3) * 1000 + 30_000);
    // DNS to the gateway's dnsmasq passes the filters (the guest needs it to reach anything by name).
    // Up to three tries: one earlier run, on a loaded machine, timed out on its single try.
    const dns = await runOnSerial(vm.domainName, `for i in 1 2 3; do timeout 10 nslookup localhost ${lease?.[2] ?? "0.0.0.0"} 2>&1 && break; done`, "vmdesk-dns-done", 60_000);
    const dnsAnswered = /Address:?\s+127\.0\.0\.1/.test(dns);
    console.info(`[guest-network] DNS to the gateway: ${dnsAnswered ? "answered" : "no answer"}`);
    console.info(`[guest-network] lease: ${lease?.[0] ?? "none"}; probed ${targets.join(", ")} on port ${listenPort}; accepted: ${accepted.length}`);

    // The attack: any accepted connection means the guest reached the host.
    expect(accepted, `guest reached the host: ${probeOut.split("\n").filter((l) => l.includes("vmdesk-reached")).join(" | ")}`).toEqual([]);
    expect(probeOut).not.toContain("vmdesk-host-answered");
    for (const a of targets) expect(probeOut).toContain(`vmdesk-blocked ${a}`);

    // DHCP worked, served by the NAT network's dnsmasq on the gateway (the host's address there).
    expect(lease, `no DHCP lease in: ${dhcp}`).not.toBeNull();
    const gateway = /<ip address='([\d.]+)'/.exec(virsh("net-dumpxml", NAT_NETWORK))?.[1];
    expect(gateway).toBeDefined();
    expect(lease![2]).toBe(gateway);
    expect(lease![3]).toBe(gateway);
    expect(lease![1]!.split(".").slice(0, 3)).toEqual(gateway!.split(".").slice(0, 3));
    expect(targets).toContain(gateway);
    expect(dnsAnswered, `nslookup through the filters: ${dns.slice(-400)}`).toBe(true);
  }, 300_000);

  it("moves a domain still defined with user-mode networking onto the NAT network when it is next started", async () => {
    expect(vm).not.toBeNull();
    const api = portal.caller(tenant);
    const off = await api.vm.poweroff({ id: vm!.id });
    expect((await settle(portal, tenant, off.operation.id)).status).toBe("succeeded");
    await waitFor("the VM to read stopped", async () => (await api.vm.get({ id: vm!.id })).state === "stopped", 30_000);
    const current = virsh("dumpxml", "--inactive", vm!.domainName);
    const legacy = current.replace(/<interface [\s\S]*?<\/interface>/, "<interface type='user'><model type='virtio'/></interface>");
    expect(legacy).toContain("<interface type='user'>");
    const file = `/tmp/vmdesk-it-legacy-${process.pid}.xml`;
    fs.writeFileSync(file, legacy);
    try {
      virsh("define", file);
    } finally {
      fs.rmSync(file, { force: true });
    }
    expect(virsh("dumpxml", "--inactive", vm!.domainName)).toContain("<interface type='user'>");

    const up = await api.vm.start({ id: vm!.id });
    expect((await settle(portal, tenant, up.operation.id)).status).toBe("succeeded");
    const after = virsh("dumpxml", "--inactive", vm!.domainName);
    expect(after).not.toContain("<interface type='user'>");
    expect(after).toContain(`<source network='${NAT_NETWORK}'`);
    expect(after).toMatch(/<filterref filter='vmdesk-guest'/);
    expect(virsh("domiflist", vm!.domainName)).toContain(NAT_NETWORK);
  }, 180_000);
});
