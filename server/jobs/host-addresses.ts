/**
 * The addresses a host answers on, which its guests must not reach (see hypervisor/guest-network.ts).
 * libvirt has no call that lists them, so: for a host on this machine, this machine's interfaces
 * (read at every call: bridges and addresses come and go); for a remote host, what its URI's name
 * resolves to (within a 5 s bound). Addresses a remote host has beyond that are not known to vmdesk (documented in the
 * README); the NAT gateway is always added by the filter builder.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import os from "node:os";
import { isLocalUri } from "./host-monitor.ts";

const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * IPv6 link-local addresses are left out: every guest's tap device brings its own (so the set would
 * change, and the filter be re-applied to every guest, at each VM start), and no guest reaches them:
 * personal VMs' `clean-traffic` passes no IPv6 at all and libvirt disables IPv6 on the bridge of a
 * network without IPv6 addresses (class networks).
 */
function isLinkLocalV6(address: string): boolean {
  return /^fe[89ab]/i.test(address);
}

export async function hostAddresses(uri: string): Promise<string[]> {
  if (isLocalUri(uri)) {
    return Object.values(os.networkInterfaces())
      .flat()
      .filter((a): a is os.NetworkInterfaceInfo => a !== undefined && !a.internal && !isLinkLocalV6(a.address))
      .map((a) => a.address);
  }
  let name: string;
  try {
    name = new URL(uri).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return [];
  }
  if (name === "") return [];
  if (isIP(name)) return [name];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("lookup timed out")), LOOKUP_TIMEOUT_MS);
  });
  try {
    return (await Promise.race([lookup(name, { all: true }), timeout])).map((a) => a.address);
  } catch {
    // An unresolvable name: the connection to that host fails anyway; the gateway is still guarded.
    return [];
  } finally {
    clearTimeout(timer);
  }
}
