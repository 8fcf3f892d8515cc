import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildGuestFilterXml, buildHostGuardFilterXml, nwFilterDigest } from "../../../../server/hypervisor/xml/index.ts";
import { guestFilterXml, hostGuardFilterXml, GUEST_NAT } from "../../../../server/hypervisor/guest-network.ts";

const UUID = "6d5f3a0e-2c1b-4e8a-9f47-766d6e6f686f";
const parse = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", parseTagValue: false, isArray: (t) => t === "rule" || t === "filterref" }).parse(xml)
    .filter;

/** Every rule as "action direction priority proto k=v …", in document order. */
function rules(xml: string): string[] {
  return (parse(xml).rule ?? []).map((r: Record<string, unknown>) => {
    const [proto, body] = Object.entries(r).find(([k]) => !k.startsWith("@_"))!;
    const attrs = Object.entries(body as Record<string, string>).map(([k, v]) => `${k.slice(2)}=${v}`);
    return [r["@_action"], r["@_direction"], r["@_priority"], proto, ...attrs].join(" ");
  });
}

describe("buildHostGuardFilterXml", () => {
  it("drops guest traffic to every host address, IPv4 and IPv6, deduplicated and sorted", () => {
    const xml = buildHostGuardFilterXml({ name: "vmdesk-no-host", uuid: UUID, hostAddresses: ["192.0.2.2", "10.213.0.1", "FE80::1%eth0", "192.0.2.2", "2001:db8::5"] });
    expect(XMLValidator.validate(xml)).toBe(true);
    const f = parse(xml);
    expect(f["@_name"]).toBe("vmdesk-no-host");
    expect(f["@_chain"]).toBe("root");
    expect(f.uuid).toBe(UUID);
    expect(rules(xml)).toEqual([
      "drop out -680 ip dstipaddr=10.213.0.1",
      "drop out -680 ip dstipaddr=192.0.2.2",
      "drop out -680 ipv6 dstipaddr=2001:db8::5",
      "drop out -680 ipv6 dstipaddr=fe80::1",
    ]);
  });

  it("skips loopback and unspecified addresses (a guest cannot address them on the host)", () => {
    const xml = buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: ["127.0.0.1", "::1", "0.0.0.0", "::", "10.0.0.1"] });
    expect(rules(xml)).toEqual(["drop out -680 ip dstipaddr=10.0.0.1"]);
  });

  it("is the same document for the same addresses in any order", () => {
    const a = buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: ["10.0.0.1", "192.0.2.2"] });
    const b = buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: ["192.0.2.2", "10.0.0.1", "10.0.0.1"] });
    expect(a).toBe(b);
  });

  it.each(["", "10.0.0.256", "host.example", "1.2.3", "10.0.0.1/24", "<x>", "' or '"])("rejects the host address %j", (address) => {
    expect(() => buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: [address] })).toThrow(/invalid host address/);
  });

  it("rejects bad names and UUIDs", () => {
    expect(() => buildHostGuardFilterXml({ name: "a b", uuid: UUID, hostAddresses: [] })).toThrow(/invalid filter name/);
    expect(() => buildHostGuardFilterXml({ name: "g", uuid: "x", hostAddresses: [] })).toThrow(/invalid filter UUID/);
  });
});

describe("buildGuestFilterXml", () => {
  const spec = { name: "vmdesk-guest", uuid: UUID, hostGuardFilter: "vmdesk-no-host", network: { gateway: "10.213.0.1", address: "10.213.0.0", prefix: 24 } };

  it("references clean-traffic and the host guard, accepts DHCP/DNS to the gateway before dropping the subnet, broadcast and multicast", () => {
    // Layer-2 rules only (no iptables chains per guest), all ordered before clean-traffic's IPv4 accept at -650.
    const xml = buildGuestFilterXml(spec);
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(parse(xml).filterref).toEqual([{ "@_filter": "clean-traffic" }, { "@_filter": "vmdesk-no-host" }]);
    expect(rules(xml)).toEqual([
      "accept out -690 ip protocol=udp dstipaddr=255.255.255.255 dstportstart=67",
      "accept out -690 ip protocol=udp dstipaddr=10.213.0.1 dstportstart=67",
      "accept out -690 ip protocol=udp dstipaddr=10.213.0.1 dstportstart=53",
      "accept out -690 ip protocol=tcp dstipaddr=10.213.0.1 dstportstart=53",
      "drop out -680 ip dstipaddr=10.213.0.0 dstipmask=24",
      "drop out -680 ip dstipaddr=255.255.255.255",
      "drop out -680 ip dstipaddr=224.0.0.0 dstipmask=4",
    ]);
  });

  it("rejects a bad gateway, prefix or referenced filter", () => {
    expect(() => buildGuestFilterXml({ ...spec, network: { ...spec.network, gateway: "x" } })).toThrow(/IPv4/);
    expect(() => buildGuestFilterXml({ ...spec, network: { ...spec.network, prefix: 31 } })).toThrow(/prefix/);
    expect(() => buildGuestFilterXml({ ...spec, hostGuardFilter: "a'b" })).toThrow(/invalid filter name/);
  });
});

describe("nwFilterDigest", () => {
  it("equals for libvirt's dump of our definition (quotes, attribute order, indentation, UUID aside)", () => {
    const ours = buildGuestFilterXml({ name: "vmdesk-guest", uuid: UUID, hostGuardFilter: "h", network: { gateway: "10.1.0.1", address: "10.1.0.0", prefix: 24 } });
    const libvirts = ours
      .replace(/"/g, "'")
      .replace(/<uuid>[^<]*<\/uuid>/, "<uuid>00000000-0000-0000-0000-000000000000</uuid>")
      .replace(/<tcp dstipaddr='([^']*)' dstportstart='53'\/>/, "<tcp dstportstart='53' dstipaddr='$1'/>")
      .replace(/\n\s*/g, "\n      ");
    expect(nwFilterDigest(libvirts)).toBe(nwFilterDigest(ours));
  });

  it("differs when a rule or its order differs", () => {
    const a = buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: ["10.0.0.1"] });
    const b = buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: ["10.0.0.2"] });
    const c = buildHostGuardFilterXml({ name: "g", uuid: UUID, hostAddresses: ["10.0.0.1", "10.0.0.2"] });
    expect(nwFilterDigest(a)).not.toBe(nwFilterDigest(b));
    expect(nwFilterDigest(a)).not.toBe(nwFilterDigest(c));
  });
});

describe("vmdesk's guest networking objects", () => {
  it("always guard the NAT gateway, and the personal filter references the guard", () => {
    expect(rules(hostGuardFilterXml([]))).toEqual([`drop out -680 ip dstipaddr=${GUEST_NAT.gateway}`]);
    expect(parse(guestFilterXml()).filterref.map((f: Record<string, string>) => f["@_filter"])).toEqual(["clean-traffic", "vmdesk-no-host"]);
  });
});
