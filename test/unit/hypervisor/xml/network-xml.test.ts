import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildIsolatedNetworkXml, buildNatNetworkXml, type IsolatedNetworkSpec } from "../../../../server/hypervisor/xml/index.ts";

const parse = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseTagValue: false }).parse(xml).network;

const ipv4 = { address: "10.77.5.1", netmask: "255.255.255.0", dhcpStart: "10.77.5.10", dhcpEnd: "10.77.5.200" };

describe("buildIsolatedNetworkXml", () => {
  it("builds an isolated network: no <forward>, DNS off, libvirt picks the bridge", () => {
    const xml = buildIsolatedNetworkXml({ name: "vmdesk-class-42" });
    expect(XMLValidator.validate(xml)).toBe(true);
    const net = parse(xml);
    expect(net.forward).toBeUndefined();
    expect(net.ip).toBeUndefined();
    expect(net.name).toBe("vmdesk-class-42");
    expect(net.bridge).toEqual({ "@_stp": "on", "@_delay": "0" });
    expect(net.dns).toEqual({ "@_enable": "no" });
  });

  it("names the bridge and adds the host address with a DHCP range", () => {
    const net = parse(buildIsolatedNetworkXml({ name: "n", bridge: "vmdbr-class42x", ipv4 }));
    expect(net.forward).toBeUndefined();
    expect(net.bridge["@_name"]).toBe("vmdbr-class42x");
    expect(net.ip).toMatchObject({ "@_address": "10.77.5.1", "@_netmask": "255.255.255.0" });
    expect(net.ip.dhcp.range).toEqual({ "@_start": "10.77.5.10", "@_end": "10.77.5.200" });
  });

  it("leaves DHCP out when no range is given", () => {
    const net = parse(buildIsolatedNetworkXml({ name: "n", ipv4: { address: "10.0.0.1", netmask: "255.255.0.0" } }));
    expect(net.ip).toEqual({ "@_address": "10.0.0.1", "@_netmask": "255.255.0.0" });
  });

  it.each(["", "a b", "a/b", "<n>", "n'", "n&x"])("rejects the network name %j", (name) => {
    expect(() => buildIsolatedNetworkXml({ name })).toThrow(/invalid network name/);
  });

  it.each(["", "sixteen-chars-xx", "br 0", "br/0", "br'0"])("rejects the bridge name %j", (bridge) => {
    expect(() => buildIsolatedNetworkXml({ name: "n", bridge })).toThrow(/invalid bridge name/);
  });

  it.each<[string, IsolatedNetworkSpec["ipv4"], RegExp]>([
    ["a bad address", { ...ipv4, address: "10.77.5.256" }, /invalid IPv4 address/],
    ["markup in an address", { ...ipv4, address: "10.0.0.1'/><forward mode='nat'/><x a='" }, /invalid IPv4 address/],
    ["a non-contiguous netmask", { ...ipv4, netmask: "255.0.255.0" }, /invalid netmask/],
    ["the network address as host", { ...ipv4, address: "10.77.5.0" }, /not a host address/],
    ["the broadcast address as host", { ...ipv4, address: "10.77.5.255" }, /not a host address/],
    ["half a DHCP range", { address: "10.77.5.1", netmask: "255.255.255.0", dhcpStart: "10.77.5.10" }, /both/],
    ["a range outside the subnet", { ...ipv4, dhcpEnd: "10.77.6.10" }, /outside/],
    ["a reversed range", { ...ipv4, dhcpStart: "10.77.5.200", dhcpEnd: "10.77.5.10" }, /after its end/],
    ["a range containing the host", { ...ipv4, address: "10.77.5.50" }, /contains the host/],
  ])("rejects %s", (_, bad, message) => {
    expect(() => buildIsolatedNetworkXml({ name: "n", ipv4: bad })).toThrow(message);
  });
});

describe("buildNatNetworkXml", () => {
  const spec = { name: "vmdesk-nat", uuid: "6d5f3a0e-2c1b-4e8a-9f47-766d64657361", bridge: "vmdesk-nat0", ipv4 };

  it("builds a NAT network on a named bridge with a fixed UUID, the gateway address and DHCP", () => {
    const xml = buildNatNetworkXml(spec);
    expect(XMLValidator.validate(xml)).toBe(true);
    const net = parse(xml);
    expect(net.name).toBe("vmdesk-nat");
    expect(net.uuid).toBe(spec.uuid);
    expect(net.forward).toEqual({ "@_mode": "nat" });
    expect(net.bridge).toEqual({ "@_name": "vmdesk-nat0", "@_stp": "on", "@_delay": "0" });
    expect(net.ip).toMatchObject({ "@_address": "10.77.5.1", "@_netmask": "255.255.255.0" });
    expect(net.ip.dhcp.range).toEqual({ "@_start": "10.77.5.10", "@_end": "10.77.5.200" });
    // DNS stays on: dnsmasq on the gateway is the guests' resolver.
    expect(net.dns).toBeUndefined();
  });

  it("rejects bad UUIDs, names, bridges and inconsistent addresses", () => {
    expect(() => buildNatNetworkXml({ ...spec, uuid: "nope" })).toThrow(/invalid network UUID/);
    expect(() => buildNatNetworkXml({ ...spec, name: "a b" })).toThrow(/invalid network name/);
    expect(() => buildNatNetworkXml({ ...spec, bridge: "sixteen-chars-xx" })).toThrow(/invalid bridge name/);
    expect(() => buildNatNetworkXml({ ...spec, ipv4: { ...ipv4, dhcpStart: "10.77.5.1" } })).toThrow(/contains the host address/);
  });
});
