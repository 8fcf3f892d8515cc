/**
 * VM placement across hypervisor hosts (pure): the same choice for the same hosts in any order, and a
 * reason for every refused host. A host offers `cpus × cpuRatio` vCPUs and `memoryMiB × memoryRatio`
 * MiB (rounded to 1e-6: 100 × 0.29 is 29, not 28.999999999999996). Disk is not overcommitted:
 * `diskFreeGiB` is the pool's measured free space, `allocated.diskGiB` the space promised to VMs but
 * not yet written (an overlay may grow to its full size), and a VM fits when `requested ≤ diskFreeGiB −
 * allocated.diskGiB`. Written data is already missing from `diskFreeGiB`: never count it in both.
 * Dedicated pCPUs and huge pages are never overcommitted: a host offers the pCPUs no other VM holds
 * (`freePcpus`) and the huge pages of each size it can still promise (`hugepages`).
 */
export const HOST_STATES = ["up", "degraded", "down", "maintenance", "disabled"] as const;
export type HostState = (typeof HOST_STATES)[number];

export interface PlacementHost {
  id: string;
  name: string;
  state: HostState;
  cpus: number;
  memoryMiB: number;
  diskFreeGiB: number;
  cpuRatio: number;
  memoryRatio: number;
  /** What the VMs placed here hold; `diskGiB` only the promised part not yet written. */
  allocated: { vcpus: number; memoryMiB: number; diskGiB: number };
  labels: Readonly<Record<string, string>>;
  /** Image ids already in this host's pool or on storage it shares. */
  images: ReadonlySet<string>;
  /** pCPUs a dedicated-CPU VM may still get here (the host's reserved ones and other VMs' excluded); absent: 0. */
  freePcpus?: number;
  /** Huge pages per size that new VMs may still take here; absent: none. */
  hugepages?: ReadonlyArray<{ sizeKiB: number; free: number }>;
}

export interface PlacementRequest {
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** copyable false: the image exists only where it is. */
  image: { id: string; name: string; copyable: boolean };
  /** Host must carry every one of these label key=value pairs. */
  requiredLabels?: Readonly<Record<string, string>>;
  /** Group members (a class, an owner's set) per host id. hard: never two on a host; soft: fewer wins. */
  antiAffinity?: { mode: "hard" | "soft"; members: Readonly<Record<string, number>>; group?: string };
  policy?: "spread" | "pack";
  /** Admin pin: only this host is considered (still filtered, with reasons). */
  pinnedHostId?: string;
  /** Hosts to leave out (e.g. the migration source). */
  excludeHostIds?: ReadonlySet<string>;
  /** pCPUs the VM needs for itself alone (a flavor with dedicated CPUs: one per vCPU). */
  dedicatedCpus?: number;
  /** Huge pages the VM's memory needs, of one size. */
  hugepages?: { sizeKiB: number; pages: number };
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
      /** The best passing hosts (at most `RANKED_MAX`), best first, with their scores. */
      ranked: { hostId: string; score: number }[];
      refusals: HostRefusal[];
    }
  | { ok: false; refusals: HostRefusal[]; message: string };

/**
 * Added to the capacity weight (0…1) of a host that holds the image: a copy delays only the first VM
 * there, so it is worth five points of free capacity, enough to break near-ties and too little to
 * unbalance the fleet. Group members are compared before the weight, so it never beats anti-affinity.
 */
export const IMAGE_BONUS = 0.05;

/** `ranked` keeps the best few: sorting all of 1 000 hosts made a call 2.5× slower (p50 255 µs vs 105). */
export const RANKED_MAX = 5;

const MEMBER_PENALTY = 2;
const DEGRADED_PENALTY = 1_000_000;

/** The filters in the order they are applied; a refusal names the first one a host fails. */
const CHECKS = ["excluded", "state", "label", "image", "vcpu", "memory", "pcpu", "hugepages", "disk", "anti-affinity"] as const;
type Check = (typeof CHECKS)[number];
const CHECK_INDEX = Object.fromEntries(CHECKS.map((c, i) => [c, i])) as Record<Check, number>;
const CHECK_LABEL: Record<Check, string> = {
  excluded: "excluded",
  state: "state",
  label: "labels",
  image: "image",
  vcpu: "vCPUs",
  memory: "memory",
  pcpu: "dedicated pCPUs",
  hugepages: "huge pages",
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
 * Chooses a host for one VM. A pin limits the candidates to that host (the others are neither ranked
 * nor refused, so a 409 names just it); otherwise every refused host is in `refusals`, in the order of
 * `hosts`, with the first check it fails: excluded, state (only `up` and `degraded` accept VMs),
 * labels, image (one that cannot be copied must be there), vCPUs, memory, dedicated pCPUs, huge
 * pages, disk, hard anti-affinity.
 *
 * Ranking: every `up` host before every `degraded` one; then fewer group members; then the fraction of
 * vCPU and memory capacity left after placement, averaged (`spread`: most wins; `pack`: least), plus
 * `IMAGE_BONUS`; then name, then id. `score = weight − 2 × members − (degraded ? 1e6 : 0)`.
 * Throws RangeError on nonsense numbers (negative, NaN, infinite; zero vCPUs, memory or ratio): input
 * is validated before this, so they are a bug or corrupt host data, not a refusal.
 */
export function place(hosts: readonly PlacementHost[], request: PlacementRequest): PlacementResult {
  return evaluate(hosts, request).result;
}

/**
 * Places `requests` in order on a private copy of the fleet: each sees the vCPUs, memory, disk, copied
 * images and anti-affinity members (per `group`; requests without one share a group) of those placed
 * before it. Mutates neither argument; a failed request changes nothing for the ones after it.
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
        ...(request.dedicatedCpus ? { freePcpus: (host.freePcpus ?? 0) - request.dedicatedCpus } : {}),
        ...(request.hugepages ? { hugepages: takePages(host.hugepages ?? [], request.hugepages) } : {}),
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

/** Inserts a passing host into `top` (best first) if it ranks high enough; the rest allocate nothing. */
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
  if (request.dedicatedCpus && request.dedicatedCpus > (host.freePcpus ?? 0)) return "pcpu";
  if (request.hugepages && request.hugepages.pages > freePages(host, request.hugepages.sizeKiB)) return "hugepages";
  if (request.diskGiB > host.diskFreeGiB - host.allocated.diskGiB) return "disk";
  if (ctx.hard && ctx.members !== undefined && Object.hasOwn(ctx.members, host.id) && ctx.members[host.id]! > 0) return "anti-affinity";
  return null;
}

function missingLabel(host: PlacementHost, ctx: Context): [string, string] | undefined {
  for (const pair of ctx.labels) if (!Object.hasOwn(host.labels, pair[0]) || host.labels[pair[0]] !== pair[1]) return pair;
  return undefined;
}

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
    case "vcpu": {
      const free = num(capacity(host.cpus, host.cpuRatio) - allocated.vcpus);
      return `${who}: vCPUs ${free} free of ${num(host.cpus)} × ${ratio(host.cpuRatio)} (needs ${num(request.vcpus)})`;
    }
    case "memory": {
      const free = num(capacity(host.memoryMiB, host.memoryRatio) - allocated.memoryMiB);
      return `${who}: memory ${free} MiB free of ${num(host.memoryMiB)} MiB × ${ratio(host.memoryRatio)} (needs ${num(request.memoryMiB)} MiB)`;
    }
    case "pcpu":
      return `${who}: dedicated pCPUs ${num(host.freePcpus ?? 0)} free (needs ${num(request.dedicatedCpus ?? 0)})`;
    case "hugepages": {
      const size = request.hugepages!.sizeKiB;
      return `${who}: huge pages of ${size} KiB ${num(freePages(host, size))} free (needs ${num(request.hugepages!.pages)})`;
    }
    case "disk": {
      const free = num(host.diskFreeGiB - allocated.diskGiB);
      return `${who}: disk ${free} GiB free of ${num(host.diskFreeGiB)} GiB measured, ${num(allocated.diskGiB)} GiB promised (needs ${num(request.diskGiB)} GiB)`;
    }
    case "anti-affinity":
      return `${who} already runs a VM of this group (anti-affinity)`;
  }
}

/**
 * Whether `host` can give a VM already placed on it `grow` more (a resize): placement's capacity
 * checks (vCPU and memory overcommit, promised disk) for the growth alone, not state, labels or image
 * (the VM is there already). The first refusal's reason, or null. Shrinking parts (≤ 0) pass.
 */
export function growthRefusal(host: PlacementHost, grow: { vcpus: number; memoryMiB: number; diskGiB: number }): string | null {
  assertHost(host);
  const request: PlacementRequest = { vcpus: Math.max(0, grow.vcpus), memoryMiB: Math.max(0, grow.memoryMiB), diskGiB: Math.max(0, grow.diskGiB), image: { id: "", name: "", copyable: true } };
  const ctx: Context = { request, labels: [], members: undefined, hard: false, pack: false };
  const { vcpus, memoryMiB, diskGiB } = request;
  let failed: Check | null = null;
  if (vcpus > 0 && host.allocated.vcpus + vcpus > capacity(host.cpus, host.cpuRatio)) failed = "vcpu";
  else if (memoryMiB > 0 && host.allocated.memoryMiB + memoryMiB > capacity(host.memoryMiB, host.memoryRatio)) failed = "memory";
  else if (diskGiB > 0 && diskGiB > host.diskFreeGiB - host.allocated.diskGiB) failed = "disk";
  return failed === null ? null : reasonFor(failed, host, ctx);
}

/** For a host that passed every filter, so the fractions left are within 0…1. */
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

function freePages(host: PlacementHost, sizeKiB: number): number {
  return host.hugepages?.find((p) => p.sizeKiB === sizeKiB)?.free ?? 0;
}

function takePages(pages: ReadonlyArray<{ sizeKiB: number; free: number }>, taken: { sizeKiB: number; pages: number }) {
  return pages.map((p) => (p.sizeKiB === taken.sizeKiB ? { sizeKiB: p.sizeKiB, free: p.free - taken.pages } : p));
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
  if (request.dedicatedCpus !== undefined && !(Number.isInteger(request.dedicatedCpus) && request.dedicatedCpus >= 0)) {
    throw new RangeError(`placement: request dedicatedCpus must be a whole number ≥ 0, got ${request.dedicatedCpus}`);
  }
  if (request.hugepages) {
    positive("request hugepages.sizeKiB", request.hugepages.sizeKiB);
    nonNegative("request hugepages.pages", request.hugepages.pages);
  }
  const members = request.antiAffinity?.members;
  if (members) {
    for (const hostId in members) {
      const n = members[hostId]!;
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`placement: anti-affinity members on "${hostId}" must be a whole number ≥ 0, got ${n}`);
    }
  }
}

/** Runs for every host on every call, so the common case is a few comparisons and one finite sum. */
function assertHost(host: PlacementHost): void {
  const { cpus, memoryMiB, cpuRatio, memoryRatio, diskFreeGiB, allocated } = host;
  const sum = cpus + memoryMiB + cpuRatio + memoryRatio + diskFreeGiB + allocated.vcpus + allocated.memoryMiB + allocated.diskGiB;
  const noneNegative = Math.min(diskFreeGiB, allocated.vcpus, allocated.memoryMiB, allocated.diskGiB) >= 0;
  if (cpus > 0 && memoryMiB > 0 && cpuRatio > 0 && memoryRatio > 0 && noneNegative && Number.isFinite(sum)) return;
  const what = `host "${host.name}"`;
  Object.entries({ cpus, memoryMiB, cpuRatio, memoryRatio }).forEach(([field, n]) => positive(`${what} ${field}`, n));
  const allocatedFields = { "allocated.vcpus": allocated.vcpus, "allocated.memoryMiB": allocated.memoryMiB, "allocated.diskGiB": allocated.diskGiB };
  Object.entries({ diskFreeGiB, ...allocatedFields }).forEach(([field, n]) => nonNegative(`${what} ${field}`, n));
}

function positive(what: string, n: number): void {
  if (!(Number.isFinite(n) && n > 0)) throw new RangeError(`placement: ${what} must be a finite number > 0, got ${n}`);
}

function nonNegative(what: string, n: number): void {
  if (!(Number.isFinite(n) && n >= 0)) throw new RangeError(`placement: ${what} must be a finite number ≥ 0, got ${n}`);
}
