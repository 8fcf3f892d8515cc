/**
 * Metric series for charts and the API: a host's (admins) or a VM's (whoever may read the VM: its
 * owner, its class's teacher, admins). Buckets of `step` seconds between `from` and `to`, averaged in
 * SQL from the raw readings, or from the 5-minute averages when the step is that coarse or the window
 * reaches past what raw readings are kept for. Bounded: at most MAX_POINTS buckets, at most 31 days.
 */
import { config } from "../config.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import type { ServiceContext } from "./context.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";

export const MAX_POINTS = 2_000;
const MAX_RANGE_MS = 31 * 86_400_000;
const ROLLUP_STEP_S = 300;

export interface MetricsQuery {
  from?: Date;
  to?: Date;
  step?: number;
}

interface Window {
  from: Date;
  to: Date;
  step: number;
  source: "raw" | "rollup";
}

/** The window asked for, with defaults (the last hour, about 360 points) and bounds. */
function windowOf(q: MetricsQuery, now: Date): Window {
  const cfg = config();
  const to = q.to ?? now;
  const from = q.from ?? new Date(to.getTime() - 3_600_000);
  const range = to.getTime() - from.getTime();
  if (range <= 0) throw new AppError("BAD_REQUEST", "from must be before to", { field: "from" });
  if (range > MAX_RANGE_MS) throw new AppError("BAD_REQUEST", "the window is at most 31 days", { field: "from" });
  const interval = Math.max(1, Math.round(cfg.VMDESK_METRICS_INTERVAL_MS / 1000));
  const step = q.step ?? Math.max(interval, Math.ceil(range / 1000 / 360));
  if (range / 1000 / step > MAX_POINTS) throw new AppError("BAD_REQUEST", `at most ${MAX_POINTS} points: use a step of at least ${Math.ceil(range / 1000 / MAX_POINTS)} s for this window`, { field: "step" });
  const rawSince = now.getTime() - cfg.VMDESK_METRICS_RAW_HOURS * 3_600_000;
  const source = step >= ROLLUP_STEP_S || from.getTime() < rawSince ? "rollup" : "raw";
  return { from, to, step, source };
}

const stepFilter = (w: Window) => (w.source === "raw" ? { lt: ROLLUP_STEP_S } : { equals: ROLLUP_STEP_S });

export async function hostMetrics(ctx: ServiceContext, hostId: string, q: MetricsQuery) {
  authorize(ctx.actor, "host.list");
  const host = await ctx.db.host.findUnique({ where: { id: hostId }, select: { id: true, name: true } });
  if (!host) throw new AppError("NOT_FOUND", "host not found");
  const w = windowOf(q, new Date());
  const rows = await ctx.db.hostMetric.findMany({
    where: { hostId, step: stepFilter(w), at: { gte: w.from, lte: w.to } },
    select: { at: true, cpuPct: true, memoryUsedMiB: true, memoryTotalMiB: true, diskFreeGiB: true, vmCount: true },
    orderBy: { at: "asc" },
  });
  const points = bucket(rows, w, (group) => ({
    cpuPct: avg(group.map((r) => r.cpuPct)),
    memoryUsedMiB: avg(group.map((r) => r.memoryUsedMiB)),
    memoryTotalMiB: Math.max(...group.map((r) => r.memoryTotalMiB)),
    diskFreeGiB: minOrNull(group.map((r) => r.diskFreeGiB)),
    vmCount: avg(group.map((r) => r.vmCount)),
  }));
  return { host, from: w.from, to: w.to, step: w.step, source: w.source, points };
}

export async function vmMetrics(ctx: ServiceContext, vmId: string, q: MetricsQuery) {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) }, select: { id: true, name: true, vcpus: true, memoryMiB: true, ...vmAccessSelect } });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.read", vmTarget(vm));
  const w = windowOf(q, new Date());
  const rows = await ctx.db.vmMetric.findMany({
    where: { vmId, step: stepFilter(w), at: { gte: w.from, lte: w.to } },
    select: { at: true, cpuPct: true, memoryMiB: true, rssMiB: true, diskReadBps: true, diskWriteBps: true, diskReadIops: true, diskWriteIops: true, netRxBps: true, netTxBps: true },
    orderBy: { at: "asc" },
  });
  const points = bucket(rows, w, (group) => ({
    cpuPct: avg(group.map((r) => r.cpuPct)),
    memoryMiB: avg(group.map((r) => r.memoryMiB)),
    rssMiB: avg(group.map((r) => r.rssMiB)),
    diskReadBps: avg(group.map((r) => r.diskReadBps)),
    diskWriteBps: avg(group.map((r) => r.diskWriteBps)),
    diskReadIops: avg(group.map((r) => r.diskReadIops)),
    diskWriteIops: avg(group.map((r) => r.diskWriteIops)),
    netRxBps: avg(group.map((r) => r.netRxBps)),
    netTxBps: avg(group.map((r) => r.netTxBps)),
  }));
  return { vm: { id: vm.id, name: vm.name, vcpus: vm.vcpus, memoryMiB: vm.memoryMiB }, from: w.from, to: w.to, step: w.step, source: w.source, points };
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const minOrNull = (xs: Array<number | null>) => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length > 0 ? Math.min(...known) : null;
};

/**
 * Rows (ordered by time) grouped into `step`-second buckets aligned to the epoch; empty buckets are
 * left out (a chart draws a gap). Done here rather than in SQL: at most 31 days of 5-minute rows or
 * 24 h of raw ones per series (≤ 8 928 rows), which costs less than a second query plan per chart.
 */
function bucket<R extends { at: Date }, P>(rows: R[], w: Window, reduce: (group: R[]) => P): Array<{ at: Date } & P> {
  const ms = w.step * 1000;
  const out: Array<{ at: Date } & P> = [];
  let start = Number.NaN;
  let group: R[] = [];
  const flush = () => {
    if (group.length > 0) out.push({ at: new Date(start), ...reduce(group) });
    group = [];
  };
  for (const r of rows) {
    const b = Math.floor(r.at.getTime() / ms) * ms;
    if (b !== start) {
      flush();
      start = b;
    }
    group.push(r);
  }
  flush();
  return out;
}
