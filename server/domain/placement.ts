/**
 * VM placement across hypervisor hosts (pure). The caller loads the hosts with what their VMs already
 * hold and records the chosen host with the VM; this module only decides, the same way for the same
 * input (the order of `hosts` never changes the choice), and says for every refused host why.
 *
 * Capacity: a host offers `cpus × cpuRatio` vCPUs and `memoryMiB × memoryRatio` MiB (products rounded
 * to 1e-6, so 100 × 0.29 is 29 and not 28.999999999999996). Disk is not overcommitted:
 * `diskFreeGiB` is the pool's measured free space, and `allocated.diskGiB` the space promised to VMs
 * that is not yet written (a new overlay reserves its full size until it has grown into it), so a VM
 * fits when `requested ≤ diskFreeGiB − allocated.diskGiB`. Callers must not count written data twice.
 */
export const HOST_STATES = ["up", "degraded", "down", "maintenance", "disabled"] as const;
export type HostState = (typeof HOST_STATES)[number];

export interface PlacementHost {
  id: string;
  name: string;
  state: HostState;
  /** Physical CPUs. */
  cpus: number;
  /** Physical memory. */
  memoryMiB: number;
  /** Measured free space in its storage pool. */
  diskFreeGiB: number;
  /** vCPU overcommit ratio (4: four vCPUs per physical CPU). */
  cpuRatio: number;
  /** Memory overcommit ratio (1.0: none). */
  memoryRatio: number;
  /** What the VMs placed here hold; `diskGiB` only the promised part not yet written (see above). */
  allocated: { vcpus: number; memoryMiB: number; diskGiB: number };
  labels: Readonly<Record<string, string>>;
  /** Image ids already in this host's pool or on storage it shares. */
  images: ReadonlySet<string>;
}

export interface PlacementRequest {
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  image: {
    id: string;
    name: string;
    /** false: the image exists only where it is (cannot be copied). */
    copyable: boolean;
  };
  /** Host must carry every one of these label key=value pairs. */
  requiredLabels?: Readonly<Record<string, string>>;
  /**
   * VMs of the same group (a class, an owner's set) on each host id. hard: never two on one host;
   * soft: prefer hosts with fewer. `group` only matters to `placeMany`.
   */
  antiAffinity?: { mode: "hard" | "soft"; members: Readonly<Record<string, number>>; group?: string };
  /** Default spread. */
  policy?: "spread" | "pack";
  /** Admin pin: only this host is considered (still filtered, with reasons). */
  pinnedHostId?: string;
  /** Hosts to leave out (e.g. the migration source). */
  excludeHostIds?: ReadonlySet<string>;
}

export interface HostRefusal {
  hostId: string;
  hostName: string;
  reason: string;
}

export type PlacementResult =
  | {
      ok: true;
      hostId: string;
      hostName: string;
      /** Every candidate that passed, best first, with its score (see `place`). */
      ranked: { hostId: string; score: number }[];
      refusals: HostRefusal[];
    }
  | { ok: false; refusals: HostRefusal[]; message: string };

/**
 * Added to the capacity weight (a fraction of capacity, 0…1) of a host that already holds the image:
 * copying an image costs one transfer before the first VM can start there, and nothing after, so it is
 * worth five percentage points of free capacity and no more — enough to break near-ties, too little to
 * unbalance the fleet. Group members are compared before the weight, so it never beats anti-affinity.
 */
export const IMAGE_BONUS = 0.05;

/**
 * `ranked` holds the best passing hosts up to this many, not all of them: ordering every candidate of
 * a 1 000-host fleet costs more than the rest of the call (and its garbage shows in p99), while the
 * caller needs only the winner and a few fallbacks. `hosts.length − refusals.length` hosts passed.
 */
export const RANKED_MAX = 5;

/** Score offsets that put the ranking order into one number (for logs and the admin view). */
const MEMBER_PENALTY = 2;
const DEGRADED_PENALTY = 1_000_000;

/** The filters in the order they are applied; a refusal names the first one a host fails. */
const CHECKS = ["excluded", "state", "label", "image", "vcpu", "memory", "disk", "anti-affinity"] as const;
type Check = (typeof CHECKS)[number];
const CHECK_INDEX = Object.fromEntries(CHECKS.map((c, i) => [c, i])) as Record<Check, number>;
const CHECK_LABEL: Record<Check, string> = {
  excluded: "excluded",
  state: "state",
  label: "labels",
  image: "image",
  vcpu: "vCPUs",
  memory: "memory",
  disk: "disk",
  "anti-affinity": "anti-affinity",
};

interface Candidate {
  index: number;
  host: PlacementHost;
  degraded: boolean;
  members: number;
  weight: number;
}

interface Context {
  request: PlacementRequest;
  labels: Array<[string, string]>;
  members: Readonly<Record<string, number>> | undefined;
  hard: boolean;
  pack: boolean;
}

/**
 * Chooses a host for one VM. With a pin only that host is considered (the others are neither ranked
 * nor refused, so a 409 names just the pinned host); otherwise every host is, and when none fits each
 * one appears in `refusals`. Filters, in this order, each refusal naming the first check a host fails:
 * excluded, state (only `up` and `degraded` accept VMs), labels, image (a copyable image may be copied;
 * one that cannot must already be there), vCPUs, memory, disk, hard anti-affinity.
 *
 * Ranking, best first: every `up` host before every `degraded` one; then fewer group members (soft
 * anti-affinity); then the capacity weight — the fraction of vCPU and memory capacity left after
 * placement, averaged (`spread`: most left wins; `pack`: least left wins, as `1 − fraction`) — plus
 * `IMAGE_BONUS` when the host has the image; then host name, then id. `ranked` holds the first
 * `RANKED_MAX` in that order with `score = weight − 2 × members − (degraded ? 1e6 : 0)`, which orders
 * them the same way (the weight stays within 0…1.05). Refusals follow the order of `hosts`.
 *
 * Throws RangeError on nonsense sizes (negative, NaN, infinite; zero vCPUs or memory): callers
 * validate user input first, so this is a bug or corrupt host data, not a refusal.
 */
export function place(hosts: readonly PlacementHost[], request: PlacementRequest): PlacementResult {
  return evaluate(hosts, request).result;
}

/**
 * Places `requests` in order on a private copy of the fleet: each sees the vCPUs, memory and disk of
 * those placed before it, their images (a copied image is then on its host), and — for requests with
 * anti-affinity of the same `group` (all without a group count as one) — their group members. Neither
 * `hosts` nor `requests` is mutated. A request that fails changes nothing for the ones after it.
 */
export function placeMany(hosts: readonly PlacementHost[], requests: readonly PlacementRequest[]): PlacementResult[] {
  const fleet = hosts.slice();
  const placedByGroup = new Map<string, Map<string, number>>();
  return requests.map((request) => {
    const affinity = request.antiAffinity;
    const placed = affinity ? placedByGroup.get(affinity.group ?? "") : undefined;
    let effective = request;
    if (affinity && placed) {
      const members = new Map(Object.entries(affinity.members));
      for (const [hostId, n] of placed) members.set(hostId, (members.get(hostId) ?? 0) + n);
      effective = { ...request, antiAffinity: { ...affinity, members: Object.fromEntries(members) } };
    }
    const { result, chosen } = evaluate(fleet, effective);
    if (chosen >= 0) {
      const host = fleet[chosen]!;
      fleet[chosen] = {
        ...host,
        allocated: {
          vcpus: host.allocated.vcpus + request.vcpus,
          memoryMiB: host.allocated.memoryMiB + request.memoryMiB,
          diskGiB: host.allocated.diskGiB + request.diskGiB,
        },
        images: host.images.has(request.image.id) ? host.images : new Set([...host.images, request.image.id]),
      };
      if (affinity) {
        const key = affinity.group ?? "";
        const counts = placedByGroup.get(key) ?? new Map<string, number>();
        counts.set(host.id, (counts.get(host.id) ?? 0) + 1);
        placedByGroup.set(key, counts);
      }
    }
    return result;
  });
}

function evaluate(hosts: readonly PlacementHost[], request: PlacementRequest): { result: PlacementResult; chosen: number } {
  assertRequest(request);
  const ctx: Context = {
    request,
    labels: request.requiredLabels ? Object.entries(request.requiredLabels) : [],
    members: request.antiAffinity?.members,
    hard: request.antiAffinity?.mode === "hard",
    pack: request.policy === "pack",
  };
  const refusals: HostRefusal[] = [];
  const refusedBy = CHECKS.map(() => 0);
  // Best first; a host that cannot enter costs no allocation, which keeps a 1 000-host call lean.
  const top: Candidate[] = [];
  for (let index = 0; index < hosts.length; index++) {
    const host = hosts[index]!;
    assertHost(host);
    if (request.pinnedHostId !== undefined && host.id !== request.pinnedHostId) continue;
    const check = failedCheck(host, ctx);
    if (check === null) {
      const members = ctx.members !== undefined && Object.hasOwn(ctx.members, host.id) ? ctx.members[host.id]! : 0;
      offer(top, index, host, host.state === "degraded", members, weight(host, ctx));
    } else {
      const refusal = { hostId: host.id, hostName: host.name, reason: reasonFor(check, host, ctx) };
      refusals.push(refusal);
      refusedBy[CHECK_INDEX[check]]!++;
    }
  }
  const best = top[0];
  if (best === undefined) {
    return { result: { ok: false, refusals, message: failureMessage(hosts.length, refusals, refusedBy, request.pinnedHostId) }, chosen: -1 };
  }
  const ranked = top.map((c) => ({ hostId: c.host.id, score: c.weight - MEMBER_PENALTY * c.members - (c.degraded ? DEGRADED_PENALTY : 0) }));
  return { result: { ok: true, hostId: best.host.id, hostName: best.host.name, ranked, refusals }, chosen: best.index };
}

/** Inserts a passing host into `top` (best first, at most RANKED_MAX) if it ranks high enough. */
function offer(top: Candidate[], index: number, host: PlacementHost, degraded: boolean, members: number, weight: number): void {
  let at = top.length;
  while (at > 0 && ranksBefore(degraded, members, weight, host, top[at - 1]!)) at--;
  if (at >= RANKED_MAX) return;
  top.splice(at, 0, { index, host, degraded, members, weight });
  if (top.length > RANKED_MAX) top.pop();
}

function ranksBefore(degraded: boolean, members: number, weight: number, host: PlacementHost, other: Candidate): boolean {
  if (degraded !== other.degraded) return other.degraded;
  if (members !== other.members) return members < other.members;
  if (weight !== other.weight) return weight > other.weight;
  if (host.name !== other.host.name) return host.name < other.host.name;
  return host.id < other.host.id;
}

/** The first check `host` fails, or null when it can take the VM. */
function failedCheck(host: PlacementHost, ctx: Context): Check | null {
  const { request } = ctx;
  if (request.excludeHostIds?.has(host.id)) return "excluded";
  if (host.state !== "up" && host.state !== "degraded") return "state";
  if (missingLabel(host, ctx) !== undefined) return "label";
  if (!request.image.copyable && !host.images.has(request.image.id)) return "image";
  if (host.allocated.vcpus + request.vcpus > capacity(host.cpus, host.cpuRatio)) return "vcpu";
  if (host.allocated.memoryMiB + request.memoryMiB > capacity(host.memoryMiB, host.memoryRatio)) return "memory";
  if (request.diskGiB > host.diskFreeGiB - host.allocated.diskGiB) return "disk";
  if (ctx.hard && ctx.members !== undefined && Object.hasOwn(ctx.members, host.id) && ctx.members[host.id]! > 0) return "anti-affinity";
  return null;
}

function missingLabel(host: PlacementHost, ctx: Context): [string, string] | undefined {
  for (const pair of ctx.labels) if (!Object.hasOwn(host.labels, pair[0]) || host.labels[pair[0]] !== pair[1]) return pair;
  return undefined;
}

/** Built only for refused hosts: one sentence naming the host and what it lacks. */
function reasonFor(check: Check, host: PlacementHost, ctx: Context): string {
  const { request } = ctx;
  const who = `host "${host.name}"`;
  const { allocated } = host;
  switch (check) {
    case "excluded":
      return `${who} is excluded from this placement`;
    case "state":
      return `${who} ${host.state === "maintenance" ? "is in maintenance" : `is ${host.state}`}`;
    case "label": {
      const [key, value] = missingLabel(host, ctx)!;
      return Object.hasOwn(host.labels, key) ? `${who} lacks label ${key}=${value} (it has ${key}=${host.labels[key]})` : `${who} lacks label ${key}=${value}`;
    }
    case "image":
      return `${who} does not have image "${request.image.name}" and it cannot be copied`;
    case "vcpu":
      return `${who}: vCPUs ${num(capacity(host.cpus, host.cpuRatio) - allocated.vcpus)} free of ${num(host.cpus)} × ${ratio(host.cpuRatio)} (needs ${num(request.vcpus)})`;
    case "memory":
      return `${who}: memory ${num(capacity(host.memoryMiB, host.memoryRatio) - allocated.memoryMiB)} MiB free of ${num(host.memoryMiB)} MiB × ${ratio(host.memoryRatio)} (needs ${num(request.memoryMiB)} MiB)`;
    case "disk":
      return `${who}: disk ${num(host.diskFreeGiB - allocated.diskGiB)} GiB free of ${num(host.diskFreeGiB)} GiB measured, ${num(allocated.diskGiB)} GiB promised (needs ${num(request.diskGiB)} GiB)`;
    case "anti-affinity":
      return `${who} already runs a VM of this group (anti-affinity)`;
  }
}

/** Capacity weight of a host that passed every filter (so the fractions left are within 0…1). */
function weight(host: PlacementHost, ctx: Context): number {
  const { request } = ctx;
  const vcpuCap = capacity(host.cpus, host.cpuRatio);
  const memCap = capacity(host.memoryMiB, host.memoryRatio);
  const left = ((vcpuCap - host.allocated.vcpus - request.vcpus) / vcpuCap + (memCap - host.allocated.memoryMiB - request.memoryMiB) / memCap) / 2;
  return (ctx.pack ? 1 - left : left) + (host.images.has(request.image.id) ? IMAGE_BONUS : 0);
}

function failureMessage(hostCount: number, refusals: HostRefusal[], refusedBy: number[], pinnedHostId: string | undefined): string {
  if (pinnedHostId !== undefined) {
    const pinned = refusals[0];
    return pinned ? `the pinned host cannot take this VM: ${pinned.reason}` : `the pinned host "${pinnedHostId}" is not one of the ${hostCount} known hosts`;
  }
  if (hostCount === 0) return "no host can take this VM: there are no hosts";
  const why = CHECKS.flatMap((check, i) => (refusedBy[i]! > 0 ? [`${refusedBy[i]} for ${CHECK_LABEL[check]}`] : []));
  return `no host can take this VM: ${hostCount} ${hostCount === 1 ? "host" : "hosts"} refused (${why.join(", ")})`;
}

function capacity(physical: number, overcommit: number): number {
  return Math.round(physical * overcommit * 1e6) / 1e6;
}

/** Amounts in reasons: at most two decimals, never below zero (usage above a lowered ratio shows 0 free). */
function num(n: number): string {
  if (n <= 0) return "0";
  return Number.isInteger(n) ? `${n}` : `${Math.round(n * 100) / 100}`;
}

function ratio(r: number): string {
  return Number.isInteger(r) ? `${r}.0` : `${r}`;
}

function assertRequest(request: PlacementRequest): void {
  positive("request vcpus", request.vcpus);
  positive("request memoryMiB", request.memoryMiB);
  nonNegative("request diskGiB", request.diskGiB);
  const members = request.antiAffinity?.members;
  if (members) {
    for (const hostId in members) {
      const n = members[hostId]!;
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`placement: anti-affinity members on "${hostId}" must be a whole number ≥ 0, got ${n}`);
    }
  }
}

function assertHost(host: PlacementHost): void {
  const { cpus, memoryMiB, cpuRatio, memoryRatio, diskFreeGiB, allocated } = host;
  if (cpus > 0 && memoryMiB > 0 && cpuRatio > 0 && memoryRatio > 0 && diskFreeGiB >= 0 && allocated.vcpus >= 0 && allocated.memoryMiB >= 0 && allocated.diskGiB >= 0) {
    if (Number.isFinite(cpus + memoryMiB + cpuRatio + memoryRatio + diskFreeGiB + allocated.vcpus + allocated.memoryMiB + allocated.diskGiB)) return;
  }
  const what = `host "${host.name}"`;
  for (const [field, n] of [["cpus", cpus], ["memoryMiB", memoryMiB], ["cpuRatio", cpuRatio], ["memoryRatio", memoryRatio]] as const) positive(`${what} ${field}`, n);
  for (const [field, n] of [["diskFreeGiB", diskFreeGiB], ["allocated vcpus", allocated.vcpus], ["allocated memoryMiB", allocated.memoryMiB], ["allocated diskGiB", allocated.diskGiB]] as const) {
    nonNegative(`${what} ${field}`, n);
  }
}

function positive(what: string, n: number): void {
  if (!(Number.isFinite(n) && n > 0)) throw new RangeError(`placement: ${what} must be a finite number > 0, got ${n}`);
}

function nonNegative(what: string, n: number): void {
  if (!(Number.isFinite(n) && n >= 0)) throw new RangeError(`placement: ${what} must be a finite number ≥ 0, got ${n}`);
}
