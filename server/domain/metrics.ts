/**
 * Metrics from two readings of a host's cumulative counters (pure): CPU as a share of the time that
 * passed, byte and request counters as per-second rates. A counter that went down (the domain was
 * restarted, or migrated here, between the readings) gives no rate for that reading rather than a
 * negative or a huge one; a domain seen for the first time has none yet either.
 */

/**
 * A host's cumulative counters at one moment: the node's CPU times and memory, and every domain's
 * counters (the hypervisor driver's metrics sample is this type).
 */
export interface CounterReading {
  takenAtMs: number;
  node: { cpuBusyNs: number; cpuIdleNs: number; memoryTotalKiB: number; memoryAvailableKiB: number };
  domains: DomainReading[];
}

interface DomainReading {
  name: string;
  running: boolean;
  cpuTimeNs: number;
  vcpus: number;
  balloonKiB: number;
  rssKiB: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  diskReadReqs: number;
  diskWriteReqs: number;
  netRxBytes: number;
  netTxBytes: number;
  /**
   * Some counters could not be read without waiting (the domain was busy in a job): the reading
   * yields no rates, neither as the newer nor as the older of a pair.
   */
  partial?: boolean;
}

export interface HostRates {
  /** Busy share of all the host's CPUs, 0–100. */
  cpuPct: number;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
}

export interface DomainRates {
  name: string;
  /** Share of the domain's own vCPUs, 0–100 (one busy vCPU of two = 50). */
  cpuPct: number;
  memoryMiB: number;
  rssMiB: number;
  diskReadBps: number;
  diskWriteBps: number;
  diskReadIops: number;
  diskWriteIops: number;
  netRxBps: number;
  netTxBps: number;
}

const clampPct = (x: number) => Math.max(0, Math.min(100, x));
const KiB_PER_MiB = 1024;

export function hostRates(prev: CounterReading | undefined, cur: CounterReading): HostRates {
  const memoryTotalMiB = cur.node.memoryTotalKiB / KiB_PER_MiB;
  const memoryUsedMiB = Math.max(0, cur.node.memoryTotalKiB - cur.node.memoryAvailableKiB) / KiB_PER_MiB;
  let cpuPct = 0;
  if (prev) {
    const busy = cur.node.cpuBusyNs - prev.node.cpuBusyNs;
    const idle = cur.node.cpuIdleNs - prev.node.cpuIdleNs;
    if (busy >= 0 && idle >= 0 && busy + idle > 0) cpuPct = clampPct((100 * busy) / (busy + idle));
  }
  return { cpuPct, memoryUsedMiB: Math.round(memoryUsedMiB), memoryTotalMiB: Math.round(memoryTotalMiB) };
}

/** Rates of the running domains seen in both readings. */
export function domainRates(prev: CounterReading | undefined, cur: CounterReading): DomainRates[] {
  if (!prev) return [];
  const seconds = (cur.takenAtMs - prev.takenAtMs) / 1000;
  if (!(seconds > 0)) return [];
  const before = new Map<string, DomainReading>(prev.domains.map((d) => [d.name, d]));
  const out: DomainRates[] = [];
  for (const d of cur.domains) {
    const p = before.get(d.name);
    if (!d.running || !p || !p.running || d.partial || p.partial) continue;
    const delta = (a: number, b: number) => a - b;
    const counters = [
      delta(d.cpuTimeNs, p.cpuTimeNs),
      delta(d.diskReadBytes, p.diskReadBytes),
      delta(d.diskWriteBytes, p.diskWriteBytes),
      delta(d.diskReadReqs, p.diskReadReqs),
      delta(d.diskWriteReqs, p.diskWriteReqs),
      delta(d.netRxBytes, p.netRxBytes),
      delta(d.netTxBytes, p.netTxBytes),
    ];
    if (counters.some((c) => c < 0)) continue;
    const [cpuNs, rd, wr, rdq, wrq, rx, tx] = counters as [number, number, number, number, number, number, number];
    out.push({
      name: d.name,
      cpuPct: clampPct((100 * cpuNs) / (seconds * 1e9 * Math.max(1, d.vcpus))),
      memoryMiB: d.balloonKiB / KiB_PER_MiB,
      rssMiB: d.rssKiB / KiB_PER_MiB,
      diskReadBps: rd / seconds,
      diskWriteBps: wr / seconds,
      diskReadIops: rdq / seconds,
      diskWriteIops: wrq / seconds,
      netRxBps: rx / seconds,
      netTxBps: tx / seconds,
    });
  }
  return out;
}
