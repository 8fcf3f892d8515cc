/**
 * The fleet at a glance (admins): every host's state, newest metrics reading, effective alert
 * thresholds and a compact last-hour series, in one request whatever the number of hosts. The series
 * are averaged into buckets in SQL so the rows read stay at hosts × FLEET_SERIES_POINTS however short
 * the collection interval is.
 */
import { config } from "../config.ts";
import { effectiveThresholds, type Thresholds } from "../domain/alerts.ts";
import { layOutSeries, round1, seriesWindow, type BucketRow } from "../domain/fleet-series.ts";
import { fleetState } from "../domain/host-state.ts";
import { authorize } from "../domain/policy.ts";
import { globalThresholds } from "./alert-service.ts";
import type { ServiceContext } from "./context.ts";
import { hostAllocations } from "./fleet-service.ts";

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
