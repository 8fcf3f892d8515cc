import { describe, expect, it } from "vitest";
import { parseDomainXml } from "../../../server/hypervisor/xml/index.ts";
import { domainXml, guestNetwork } from "../../../server/jobs/vm-layout.ts";

const vm = { id: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", name: "v", ownerId: "u", domainName: "vmdesk-3f1c6a52", vcpus: 1, memoryMiB: 128, diskGiB: 1 };
const host = { id: "h", uri: "qemu:///system", domainType: "qemu", cpuMode: "none", poolName: "p", poolPath: "/p" };

describe("guest network of a VM's domain", () => {
  it("puts a personal VM on the host's NAT network behind the personal filter, never user-mode networking", () => {
    expect(guestNetwork(vm)).toEqual({
      type: "network",
      name: "vmdesk-nat",
      filter: "vmdesk-guest",
      // Until the guest's DHCP lease is seen, only DHCP passes (the default, "any", lets first packets through).
      filterParameters: { CTRL_IP_LEARNING: "dhcp", DHCPSERVER: "10.213.0.1" },
    });
    const xml = domainXml(vm, host, null, "/p/vmdesk-3f1c6a52.qcow2");
    expect(xml).not.toMatch(/type="user"/);
    expect(parseDomainXml(xml).interfaces).toEqual([{ type: "network", network: "vmdesk-nat", filter: "vmdesk-guest" }]);
    expect(xml).toContain(`<parameter name="CTRL_IP_LEARNING" value="dhcp"/>`);
    expect(xml).toContain(`<parameter name="DHCPSERVER" value="10.213.0.1"/>`);
  });

  it("keeps a class VM on its isolated network, with the host guard", () => {
    const xml = domainXml({ ...vm, networkName: "vmdesk-c-12345678" }, host, null, "/p/x.qcow2");
    expect(parseDomainXml(xml).interfaces).toEqual([{ type: "network", network: "vmdesk-c-12345678", filter: "vmdesk-no-host" }]);
  });
});
