/**
 * Load balancing (pure): the seed's automatic migration. A policy applies to a group of hosts (those
 * carrying a label, or every host) and is off by default. A host of the group whose guest load stays
 * above the policy's threshold for its whole window gives up one VM: the one that relieves it most
 * while fitting under the threshold on its destination, so a move never just relocates the hot spot.
 * A host that gave up a VM, and the VM moved, rest for the cooldown; at most `maxMovesPerRound`
 * moves per round in the group.
 *
 * Guest load is what moving a VM can change: the CPU the host's guests use, as a share of the host's
 * CPUs (each VM's CPU % of its own vCPUs × its vCPUs, summed, over the host's CPUs). It also keeps
 * hosts that share a machine (the lab's) apart, whose node CPU is the same number.
 */
import { evaluate, type Reading } from "./alerts.ts";

export interface LoadBalancePolicy {
  /** `key=value`: the hosts carrying that label; null: every host. */
  group: string | null;
  enabled: boolean;
  cpuAbovePct: number;
  windowS: number;
  cooldownS: number;
  maxMovesPerRound: number;
}

export const DEFAULT_POLICY: Omit<LoadBalancePolicy, "group"> = { enabled: false, cpuAbovePct: 80, windowS: 120, cooldownS: 600, maxMovesPerRound: 1 };
export const MAX_POLICIES = 20;

export function inGroup(group: string | null, labels: Readonly<Record<string, string>>): boolean {
  if (group === null) return true;
  const eq = group.indexOf("=");
  return eq > 0 && labels[group.slice(0, eq)] === group.slice(eq + 1);
}

export interface VmLoad {
  vmId: string;
  vcpus: number;
  /** Mean CPU % of its own vCPUs over the window. */
  cpuPct: number;
}

/** The VM's share of a host with `hostCpus` CPUs, in % of the host. */
export function hostShare(vm: Pick<VmLoad, "vcpus" | "cpuPct">, hostCpus: number): number {
  return (vm.cpuPct * vm.vcpus) / Math.max(1, hostCpus);
}

/** A host's guest load per round: its VMs' readings summed per timestamp, as % of its CPUs. */
export function guestLoadSeries(rows: ReadonlyArray<{ at: Date; cpuPct: number; vcpus: number }>, hostCpus: number): Reading[] {
  const byAt = new Map<number, number>();
  for (const r of rows) byAt.set(r.at.getTime(), (byAt.get(r.at.getTime()) ?? 0) + hostShare(r, hostCpus));
  return [...byAt.entries()].sort(([a], [b]) => a - b).map(([at, value]) => ({ at: new Date(at), value }));
}

/** Sustained above the threshold for the whole window (the alert rule, without hysteresis: no state to keep). */
export function overloaded(series: Reading[], policy: Pick<LoadBalancePolicy, "cpuAbovePct" | "windowS">, now: Date, intervalS: number): boolean {
  return evaluate(series, { abovePct: policy.cpuAbovePct, windowS: policy.windowS }, false, now, intervalS) === "fire";
}

export interface Candidate {
  vmId: string;
  /** Host ids the VM may go to: in the group, not resting, where its share fits under the threshold. */
  destinations: string[];
}

/**
 * The VMs to offer placement, best first: the ones that take the most load off the source, each with
 * the destinations where it would not push the load over the threshold. VMs that fit nowhere are left out.
 */
export function moveCandidates(
  source: { cpus: number },
  vms: readonly VmLoad[],
  destinations: ReadonlyArray<{ id: string; cpus: number; loadPct: number }>,
  cpuAbovePct: number,
): Candidate[] {
  return [...vms]
    .sort((a, b) => hostShare(b, source.cpus) - hostShare(a, source.cpus))
    .map((vm) => ({ vmId: vm.vmId, destinations: destinations.filter((d) => d.loadPct + hostShare(vm, d.cpus) <= cpuAbovePct).map((d) => d.id) }))
    .filter((c) => c.destinations.length > 0 && vms.find((v) => v.vmId === c.vmId)!.cpuPct > 0);
}
