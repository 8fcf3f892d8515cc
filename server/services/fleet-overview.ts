/**
 * The fleet at a glance (admins): every host's state, newest metrics reading, effective alert
 * thresholds and a compact last-hour series, in one request whatever the number of hosts. The series
 * are averaged into buckets in SQL so the rows read stay at hosts × FLEET_SERIES_POINTS however short
 * the collection interval is.
 */
import { config } from "../config.ts";
import { effectiveThresholds, type Thresholds } from "../domain/alerts.ts";
import { AppError } from "../domain/errors.ts";
import { fleetState } from "../domain/host-state.ts";
import { authorize } from "../domain/policy.ts";
import { globalThresholds } from "./alert-service.ts";
import type { ServiceContext } from "./context.ts";
import { hostAllocations } from "./fleet-service.ts";
import { listHosts } from "./host-service.ts";

/** At most this many points per host and metric. */
export const FLEET_SERIES_POINTS = 120;
const FLEET_SPAN_S = 3_600;

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

const round1 = (x: number) => Math.round(x * 10) / 10;

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

const fleetHostSelect = {
  id: true,
  name: true,
  enabled: true,
  maintenance: true,
  state: true,
  lastSeenAt: true,
  lastError: true,
  cpus: true,
  memoryMiB: true,
  diskFreeGiB: true,
  diskTotalGiB: true,
  alertThresholds: true,
} as const;

type Overrides = Partial<Record<keyof Thresholds, { abovePct?: number; windowS?: number }>>;

/**
 * Every host (by name) with its fleet state, how many VMs it holds, its newest raw reading of the
 * last hour (null when there is none), its storage pool as the monitor last measured it, its effective
 * thresholds beside its own overrides, and the last hour in `step`-second averages. Four queries
 * (hosts, allocations, newest readings, buckets) plus the global thresholds, independent of the
 * number of hosts.
 */
export async function fleetOverview(ctx: ServiceContext) {
  authorize(ctx.actor, "host.list");
  const now = new Date();
  const w = seriesWindow(now, config().VMDESK_METRICS_INTERVAL_MS);
  const [hosts, allocations, global, latest, buckets] = await Promise.all([
    ctx.db.host.findMany({ orderBy: { name: "asc" }, select: fleetHostSelect }),
    hostAllocations(ctx.db),
    globalThresholds(ctx.db),
    // Raw readings only (step < 300 s: the 5-minute averages are not readings).
    ctx.db.$queryRaw<Array<{ hostId: string; at: Date; cpuPct: number; memoryUsedMiB: number; memoryTotalMiB: number; diskFreeGiB: number | null; vmCount: number }>>`
      SELECT DISTINCT ON ("hostId") "hostId"::text AS "hostId", "at", "cpuPct", "memoryUsedMiB", "memoryTotalMiB", "diskFreeGiB", "vmCount"
      FROM "HostMetric"
      WHERE "step" < 300 AND "at" >= ${w.from}::timestamp AND "at" <= ${now}::timestamp
      ORDER BY "hostId", "at" DESC`,
    ctx.db.$queryRaw<BucketRow[]>`
      SELECT "hostId"::text AS "hostId",
             floor(extract(epoch FROM ("at" - ${w.from}::timestamp)) / ${w.step}::int)::int AS "i",
             avg("cpuPct")::float8 AS "cpuPct",
             (100 * avg("memoryUsedMiB"::float8 / NULLIF("memoryTotalMiB", 0)))::float8 AS "memoryPct",
             min("diskFreeGiB")::int AS "diskFreeGiB"
      FROM "HostMetric"
      WHERE "step" < 300 AND "at" >= ${w.from}::timestamp AND "at" <= ${now}::timestamp
      GROUP BY 1, 2`,
  ]);
  const newest = new Map(latest.map((r) => [r.hostId, r]));
  const series = layOutSeries(buckets, hosts, w.points);
  return {
    at: now,
    from: w.from,
    step: w.step,
    points: w.points,
    global,
    hosts: hosts.map((h) => {
      const reading = newest.get(h.id);
      const overrides = (h.alertThresholds ?? {}) as Overrides;
      return {
        id: h.id,
        name: h.name,
        state: fleetState(h),
        lastSeenAt: h.lastSeenAt,
        lastError: h.lastError,
        cpus: h.cpus,
        vmCount: allocations.get(h.id)?.vms ?? 0,
        latest: reading
          ? { at: reading.at, cpuPct: round1(reading.cpuPct), memoryUsedMiB: reading.memoryUsedMiB, memoryTotalMiB: reading.memoryTotalMiB, runningVms: reading.vmCount }
          : null,
        storage: { freeGiB: h.diskFreeGiB, totalGiB: h.diskTotalGiB },
        thresholds: effectiveThresholds(global, overrides),
        overrides,
        series: series.get(h.id)!,
      };
    }),
  };
}

/** One host exactly as GET /hosts lists it; 404 when there is no such host. */
export async function getHost(ctx: ServiceContext, id: string) {
  const host = (await listHosts(ctx)).find((h) => h.id === id);
  if (!host) throw new AppError("NOT_FOUND", "host not found");
  return host;
}
