/**
 * Virtual network XML (https://libvirt.org/formatnetwork.html). Pure: no I/O.
 */
import { create } from "xmlbuilder2";

const NETWORK_NAME = /^[A-Za-z0-9_.-]+$/;
/** Linux interface names: at most 15 bytes (IFNAMSIZ - 1). */
const BRIDGE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export interface IsolatedNetworkSpec {
  /** libvirt network name; an identifier we choose, never user text. */
  name: string;
  /** Host bridge name (≤ 15 characters); omitted: libvirt picks a free virbrN. */
  bridge?: string;
  /**
   * The host's address on the network. Omitted: the bridge has no address, so guests reach only
   * each other (and nothing on the host). DHCP needs both dhcpStart and dhcpEnd, and dnsmasq on the host.
   */
  ipv4?: { address: string; netmask: string; dhcpStart?: string; dhcpEnd?: string };
}

/**
 * An isolated network: no `<forward>` element, so libvirt routes nothing between it and the host's
 * other networks: guests on it reach each other only. DNS is disabled (`<dns enable='no'/>`): the
 * network's dnsmasq would otherwise forward guests' queries to the host's resolvers, a path to the
 * outside. Throws on names libvirt or the kernel would reject and on inconsistent addresses.
 */
export function buildIsolatedNetworkXml(spec: IsolatedNetworkSpec): string {
  validate(spec);
  const net = create().ele("network");
  net.ele("name").txt(spec.name);
  net.ele("bridge", { ...(spec.bridge !== undefined ? { name: spec.bridge } : {}), stp: "on", delay: "0" });
  net.ele("dns", { enable: "no" });
  if (spec.ipv4) {
    const ip = net.ele("ip", { address: spec.ipv4.address, netmask: spec.ipv4.netmask });
    if (spec.ipv4.dhcpStart !== undefined && spec.ipv4.dhcpEnd !== undefined) {
      ip.ele("dhcp").ele("range", { start: spec.ipv4.dhcpStart, end: spec.ipv4.dhcpEnd });
    }
  }
  return net.end({ headless: true, prettyPrint: true });
}

function validate(spec: IsolatedNetworkSpec): void {
  if (!NETWORK_NAME.test(spec.name)) throw new Error(`invalid network name: ${JSON.stringify(spec.name)}`);
  if (spec.bridge !== undefined && !BRIDGE_NAME.test(spec.bridge)) {
    throw new Error(`invalid bridge name (1-15 of [A-Za-z0-9_.-]): ${JSON.stringify(spec.bridge)}`);
  }
  const ip = spec.ipv4;
  if (!ip) return;
  for (const [field, value] of Object.entries(ip)) {
    if (value !== undefined && !IPV4.test(value)) throw new Error(`invalid IPv4 ${field}: ${JSON.stringify(value)}`);
  }
  const mask = toInt(ip.netmask);
  if (mask === 0 || ((~mask >>> 0) & ((~mask >>> 0) + 1)) !== 0) throw new Error(`invalid netmask: ${ip.netmask}`);
  const net = (toInt(ip.address) & mask) >>> 0;
  if (toInt(ip.address) === net || toInt(ip.address) === (net | ~mask) >>> 0) {
    throw new Error(`${ip.address} is not a host address in its subnet`);
  }
  if ((ip.dhcpStart === undefined) !== (ip.dhcpEnd === undefined)) throw new Error("DHCP needs both dhcpStart and dhcpEnd");
  if (ip.dhcpStart === undefined || ip.dhcpEnd === undefined) return;
  const start = toInt(ip.dhcpStart);
  const end = toInt(ip.dhcpEnd);
  if (((start & mask) >>> 0) !== net || ((end & mask) >>> 0) !== net) throw new Error("DHCP range is outside the network's subnet");
  if (start > end) throw new Error("DHCP range start is after its end");
  if (toInt(ip.address) >= start && toInt(ip.address) <= end) throw new Error("DHCP range contains the host address");
}

function toInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => (acc * 256 + Number(part)) >>> 0, 0);
}

export interface NatNetworkSpec {
  /** libvirt network name; an identifier we choose, never user text. */
  name: string;
  /** Fixed UUID, so concurrent or repeated defines are redefinitions of one network, not conflicts. */
  uuid: string;
  /** Host bridge name (≤ 15 characters). */
  bridge: string;
  /** The host's (gateway's) address on the network, with DHCP for guests (dnsmasq, also their DNS). */
  ipv4: { address: string; netmask: string; dhcpStart: string; dhcpEnd: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A NAT network (`<forward mode='nat'>`): guests reach the outside through the host's masquerading,
 * get addresses and DNS from the network's dnsmasq on the gateway address. The gateway address IS the
 * host: keeping guests away from it (and from the host's other addresses) is the job of the
 * nwfilter their interfaces reference (see nwfilter-xml.ts), not of the network.
 */
export function buildNatNetworkXml(spec: NatNetworkSpec): string {
  validate({ name: spec.name, bridge: spec.bridge, ipv4: spec.ipv4 });
  if (!UUID.test(spec.uuid)) throw new Error(`invalid network UUID: ${JSON.stringify(spec.uuid)}`);
  const net = create().ele("network");
  net.ele("name").txt(spec.name);
  net.ele("uuid").txt(spec.uuid);
  net.ele("forward", { mode: "nat" });
  net.ele("bridge", { name: spec.bridge, stp: "on", delay: "0" });
  const ip = net.ele("ip", { address: spec.ipv4.address, netmask: spec.ipv4.netmask });
  ip.ele("dhcp").ele("range", { start: spec.ipv4.dhcpStart, end: spec.ipv4.dhcpEnd });
  return net.end({ headless: true, prettyPrint: true });
}
