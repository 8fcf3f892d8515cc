/**
 * `npm run bench:placement` — one `place` call over 1 000 simulated hosts (seeded, so every run sees
 * the same fleet and requests), 10 000 varied requests, each call timed alone, after a warm-up. The
 * baseline in the same run is a naive first-fit scan over the same hosts and requests: the same
 * filters, no reasons, no ranking, stopping at the first host that fits. Prints one JSON line; exits 1
 * when p99 reaches 1 000 µs.
 */
import { place, type HostState, type PlacementHost, type PlacementRequest } from "../../server/domain/placement.ts";

const HOSTS = 1_000;
const PLACEMENTS = 10_000;
const WARMUP = 2_000;
const P99_LIMIT_US = 1_000;
const IMAGES = Array.from({ length: 24 }, (_, i) => ({ id: `img-${i}`, name: `image ${i}` }));

/** mulberry32: small, fast and the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(20261205);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chance = (p: number) => rand() < p;

function makeHost(i: number): PlacementHost {
  const r = rand();
  const state: HostState = r < 0.8 ? "up" : r < 0.88 ? "degraded" : r < 0.93 ? "maintenance" : r < 0.97 ? "down" : "disabled";
  const cpus = pick([8, 16, 32, 64, 128]);
  const memoryMiB = cpus * pick([2048, 4096, 8192]);
  const cpuRatio = pick([1, 2, 4, 8]);
  const memoryRatio = pick([1, 1, 1.25, 1.5]);
  const fill = rand() * 0.95;
  const labels: Record<string, string> = { zone: pick(["a", "b", "c"]), arch: chance(0.85) ? "x86_64" : "aarch64" };
  if (chance(0.1)) labels.gpu = "yes";
  if (chance(0.3)) labels.ssd = "yes";
  return {
    id: `host-${String(i).padStart(4, "0")}`,
    name: `hv${String((i * 7919) % HOSTS).padStart(4, "0")}`,
    state,
    cpus,
    memoryMiB,
    diskFreeGiB: Math.floor(rand() * 4000),
    cpuRatio,
    memoryRatio,
    allocated: {
      vcpus: Math.floor(cpus * cpuRatio * fill),
      memoryMiB: Math.floor(memoryMiB * memoryRatio * fill * rand()),
      diskGiB: Math.floor(rand() * 300),
    },
    labels,
    images: new Set(IMAGES.filter(() => chance(0.3)).map((img) => img.id)),
  };
}

function makeRequest(hosts: readonly PlacementHost[]): PlacementRequest {
  const image = pick(IMAGES);
  const request: PlacementRequest = {
    vcpus: pick([1, 1, 2, 2, 4, 8, 16]),
    memoryMiB: pick([512, 1024, 2048, 4096, 8192, 16384]),
    diskGiB: pick([5, 10, 20, 40, 100]),
    image: { ...image, copyable: !chance(0.1) },
    policy: chance(0.2) ? "pack" : "spread",
  };
  if (chance(0.25)) request.requiredLabels = chance(0.3) ? { gpu: "yes" } : { zone: pick(["a", "b", "c"]), arch: "x86_64" };
  if (chance(0.3)) {
    const members: Record<string, number> = {};
    for (let k = 0; k < 30; k++) members[pick(hosts).id] = 1 + Math.floor(rand() * 3);
    request.antiAffinity = { mode: chance(0.5) ? "hard" : "soft", members };
  }
  if (chance(0.02)) request.pinnedHostId = pick(hosts).id;
  if (chance(0.05)) request.excludeHostIds = new Set([pick(hosts).id]);
  return request;
}

/** Same filters as `place`, none of its reasons or ranking: the first host that fits, or null. */
function firstFit(hosts: readonly PlacementHost[], r: PlacementRequest): string | null {
  const labels = r.requiredLabels ? Object.entries(r.requiredLabels) : [];
  for (const h of hosts) {
    if (r.pinnedHostId !== undefined && h.id !== r.pinnedHostId) continue;
    if (r.excludeHostIds?.has(h.id)) continue;
    if (h.state !== "up" && h.state !== "degraded") continue;
    if (!labels.every(([k, v]) => h.labels[k] === v)) continue;
    if (!r.image.copyable && !h.images.has(r.image.id)) continue;
    if (h.allocated.vcpus + r.vcpus > h.cpus * h.cpuRatio) continue;
    if (h.allocated.memoryMiB + r.memoryMiB > h.memoryMiB * h.memoryRatio) continue;
    if (r.diskGiB > h.diskFreeGiB - h.allocated.diskGiB) continue;
    if (r.antiAffinity?.mode === "hard" && (r.antiAffinity.members[h.id] ?? 0) > 0) continue;
    return h.id;
  }
  return null;
}

/** Times each call alone (µs), after `WARMUP` untimed calls; `sink` keeps the results observable. */
function measure(requests: readonly PlacementRequest[], run: (r: PlacementRequest) => string | null): Float64Array {
  let sink = 0;
  for (let i = 0; i < WARMUP; i++) sink += run(requests[i % requests.length]!)?.length ?? 0;
  const times = new Float64Array(requests.length);
  for (let i = 0; i < requests.length; i++) {
    const t0 = process.hrtime.bigint();
    const chosen = run(requests[i]!);
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
    sink += chosen?.length ?? 0;
  }
  if (sink < 0) console.error(sink);
  return times.sort();
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round1 = (n: number) => Math.round(n * 10) / 10;

const hosts = Array.from({ length: HOSTS }, (_, i) => makeHost(i));
const requests = Array.from({ length: PLACEMENTS }, () => makeRequest(hosts));
const portal = measure(requests, (r) => {
  const result = place(hosts, r);
  return result.ok ? result.hostId : null;
});
const baseline = measure(requests, (r) => firstFit(hosts, r));

const p99 = percentile(portal, 99);
const baselineP99 = percentile(baseline, 99);
console.log(
  JSON.stringify({
    bench: "placement",
    hosts: HOSTS,
    placements: PLACEMENTS,
    p50_us: round1(percentile(portal, 50)),
    p99_us: round1(p99),
    baseline_p50_us: round1(percentile(baseline, 50)),
    baseline_p99_us: round1(baselineP99),
    ratio_p99: round1(p99 / baselineP99),
  }),
);
if (p99 >= P99_LIMIT_US) {
  console.error(`bench:placement: p99 ${round1(p99)} µs is not below ${P99_LIMIT_US} µs`);
  process.exit(1);
}
