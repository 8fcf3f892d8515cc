/**
 * How vmdesk guests are networked on a host. Personal VMs share one NAT network per host
 * (`vmdesk-nat`); class VMs sit on their class's isolated network. Either way the guest must not
 * reach the host itself: with QEMU user-mode networking (what vmdesk used before) a guest reached
 * the host's loopback as 10.0.2.2 (the portal, any loopback display), and on a bridge the host
 * answers on every one of its addresses. libvirt nwfilters keep guests away from them:
 *
 * - `vmdesk-no-host` drops guest traffic to each of the host's addresses (all guests);
 * - `vmdesk-guest` (personal VMs) adds libvirt's `clean-traffic` (anti-spoofing, IPv4/ARP only),
 *   accepts DHCP and DNS to the gateway (dnsmasq) and drops everything else to the NAT subnet,
 *   so personal VMs of different tenants do not reach each other either.
 */
import type { HostConnection } from "./driver.ts";
import { buildNatNetworkXml } from "./xml/network-xml.ts";
import { buildGuestFilterXml, buildHostGuardFilterXml } from "./xml/nwfilter-xml.ts";

/**
 * The personal VMs' NAT network. Its subnet must not be routed on the host already (libvirt then
 * refuses to start it): not libvirt's default 192.168.122.0/24, and class networks have no address.
 */
export const GUEST_NAT = {
  name: "vmdesk-nat",
  uuid: "6d5f3a0e-2c1b-4e8a-9f47-766d64657361",
  bridge: "vmdesk-nat0",
  address: "10.213.0.0",
  prefix: 24,
  netmask: "255.255.255.0",
  gateway: "10.213.0.1",
  dhcpStart: "10.213.0.10",
  dhcpEnd: "10.213.0.254",
} as const;

export const HOST_GUARD_FILTER = { name: "vmdesk-no-host", uuid: "6d5f3a0e-2c1b-4e8a-9f47-766d6e6f686f" } as const;
export const GUEST_FILTER = { name: "vmdesk-guest", uuid: "6d5f3a0e-2c1b-4e8a-9f47-766d67756573" } as const;

/**
 * `clean-traffic` needs the guest's address ($IP). Until libvirt has learnt it the filter's rules are
 * not in place yet; with the default learning ("any": the first packet) the guest's first packets,
 * and everything it sends while the rules are being instantiated, pass unfiltered. Learning from
 * DHCP instead lets only DHCP through until the lease is seen (from our dnsmasq only), then applies
 * the whole filter. A guest with a static address therefore gets no traffic through: personal VMs
 * must use DHCP.
 */
export const GUEST_FILTER_PARAMETERS: Readonly<Record<string, string>> = {
  CTRL_IP_LEARNING: "dhcp",
  DHCPSERVER: GUEST_NAT.gateway,
};

export function natNetworkXml(): string {
  const n = GUEST_NAT;
  return buildNatNetworkXml({
    name: n.name,
    uuid: n.uuid,
    bridge: n.bridge,
    ipv4: { address: n.gateway, netmask: n.netmask, dhcpStart: n.dhcpStart, dhcpEnd: n.dhcpEnd },
  });
}

/** The host guard for a host with these addresses; the NAT gateway is always among them. */
export function hostGuardFilterXml(hostAddresses: string[]): string {
  return buildHostGuardFilterXml({ ...HOST_GUARD_FILTER, hostAddresses: [GUEST_NAT.gateway, ...hostAddresses] });
}

export function guestFilterXml(): string {
  return buildGuestFilterXml({
    ...GUEST_FILTER,
    hostGuardFilter: HOST_GUARD_FILTER.name,
    network: { gateway: GUEST_NAT.gateway, address: GUEST_NAT.address, prefix: GUEST_NAT.prefix },
  });
}

/**
 * Makes the host ready for vmdesk guests, before any domain referencing these objects is defined:
 * the host guard (updated when the host's addresses changed; libvirt re-applies it to running
 * guests), the personal-VM filter, then the NAT network (defined, autostarted, started). Idempotent;
 * each step is one host call under the connection's call timeout. Concurrent callers on one host
 * redefine the same names and UUIDs, which libvirt accepts; a lost race on starting the network is
 * retried once.
 */
export async function ensureGuestNetworking(conn: HostConnection, hostAddresses: string[]): Promise<void> {
  await conn.ensureNwFilter(HOST_GUARD_FILTER.name, hostGuardFilterXml(hostAddresses));
  await conn.ensureNwFilter(GUEST_FILTER.name, guestFilterXml());
  const xml = natNetworkXml();
  await conn.ensureNetwork(GUEST_NAT.name, xml).catch(() => conn.ensureNetwork(GUEST_NAT.name, xml));
}
