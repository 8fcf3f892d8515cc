/**
 * The fleet overview's last-hour series (pure): which buckets cover the window, and the bucket rows
 * laid out as one array per metric and host. services/fleet-overview.ts reads the rows in SQL.
 */

/** At most this many points per host and metric. */
export const FLEET_SERIES_POINTS = 120;
export const FLEET_SPAN_S = 3_600;

export interface SeriesWindow {
  /** Start of the first bucket (aligned to the epoch in `step`s, so polls reuse the same buckets). */
  from: Date;
  /** Seconds per bucket: never finer than the collection interval. */
  step: number;
  /** Buckets from `from` up to the one holding `now`. */
  points: number;
}

/**
 * The buckets covering the last `spanS` seconds up to `now`, at most `maxPoints` of them, the last one
 * being the (partial) bucket that holds `now`.
 */
export function seriesWindow(now: Date, intervalMs: number, spanS = FLEET_SPAN_S, maxPoints = FLEET_SERIES_POINTS): SeriesWindow {
  const step = Math.max(Math.ceil(intervalMs / 1000), Math.ceil(spanS / maxPoints));
  const points = Math.min(maxPoints, Math.ceil(spanS / step));
  const current = Math.floor(now.getTime() / 1000 / step);
  return { from: new Date((current - (points - 1)) * step * 1000), step, points };
}

export interface BucketRow {
  hostId: string;
  /** Bucket index from the window's start. */
  i: number;
  cpuPct: number;
  memoryPct: number | null;
  diskFreeGiB: number | null;
}

export interface HostSeries {
  cpuPct: Array<number | null>;
  memoryPct: Array<number | null>;
  diskPct: Array<number | null>;
}

export const round1 = (x: number) => Math.round(x * 10) / 10;

/** Storage-pool use in percent, or null when either figure is unknown (as the disk alert counts it). */
export function diskUsedPct(freeGiB: number | null, totalGiB: number | null): number | null {
  return freeGiB === null || !totalGiB ? null : Math.min(100, Math.max(0, 100 * (1 - freeGiB / totalGiB)));
}

/**
 * Bucket rows laid out as one array per metric and host, `points` long, null where a bucket has no
 * reading (a chart draws a gap). Rows outside the window are ignored; percentages get one decimal.
 */
export function layOutSeries(rows: BucketRow[], hosts: Array<{ id: string; diskTotalGiB: number | null }>, points: number): Map<string, HostSeries> {
  const out = new Map<string, HostSeries>();
  const empty = () => Array.from({ length: points }, () => null);
  for (const h of hosts) out.set(h.id, { cpuPct: empty(), memoryPct: empty(), diskPct: empty() });
  const totals = new Map(hosts.map((h) => [h.id, h.diskTotalGiB]));
  for (const r of rows) {
    const s = out.get(r.hostId);
    if (!s || !Number.isInteger(r.i) || r.i < 0 || r.i >= points) continue;
    s.cpuPct[r.i] = round1(r.cpuPct);
    s.memoryPct[r.i] = r.memoryPct === null ? null : round1(r.memoryPct);
    const disk = diskUsedPct(r.diskFreeGiB, totals.get(r.hostId) ?? null);
    s.diskPct[r.i] = disk === null ? null : round1(disk);
  }
  return out;
}
