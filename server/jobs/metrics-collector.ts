/**
 * Host and VM metrics (leader only). Every interval, per enabled host, one bulk reading
 * (HostConnection.metricsSample: node CPU and memory and every domain's counters in one libvirt
 * round trip, never one call per VM), turned into rates against the previous reading
 * (domain/metrics) and stored: one HostMetric row per host and one VmMetric row per running VM.
 * Hosts are read in parallel, each under its connection's call timeout, so a slow or dead host costs
 * its own row only; a round still running when the next is due is not overlapped.
 *
 * Retention: raw rows (step = the interval) are rolled up into 5-minute averages (step 300) once
 * their bucket is complete, kept VMDESK_METRICS_RAW_HOURS; the averages are kept
 * VMDESK_METRICS_ROLLUP_DAYS. The rollup is idempotent: per host and per VM it continues after the
 * newest average there is.
 */
import type { Db } from "../db/client.ts";
import { domainRates, hostRates, type DomainRates, type HostRates } from "../domain/metrics.ts";
import type { HostMetricsSample } from "../hypervisor/driver.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { log as rootLog } from "../log.ts";
import type { Clock } from "./clock.ts";

const log = rootLog.child({ job: "metrics" });

export const ROLLUP_STEP_S = 300;
const ROLLUP_EVERY_MS = 60_000;

export interface MetricsRetention {
  rawHours: number;
  rollupDays: number;
}

/**
 * Stores one host's round: its HostMetric row and one VmMetric row per VM, the VMs in a single
 * INSERT … SELECT FROM unnest (one statement, one round trip, whatever the count). bench:metrics
 * measured Prisma's createMany at 31 s for 50 hosts × 2 000 VMs (three times the interval) against
 * 1.2 s for this form.
 */
export async function storeRound(
  db: Db,
  round: { hostId: string; at: Date; step: number; host: HostRates; diskFreeGiB: number | null; vmCount: number },
  vms: Array<{ vmId: string } & DomainRates>,
): Promise<void> {
  const { hostId, at, step, host } = round;
  await db.$executeRaw`
    INSERT INTO "HostMetric" ("hostId", "at", "step", "cpuPct", "memoryUsedMiB", "memoryTotalMiB", "diskFreeGiB", "vmCount")
    VALUES (${hostId}::uuid, ${at}, ${step}, ${host.cpuPct}, ${host.memoryUsedMiB}, ${host.memoryTotalMiB}, ${round.diskFreeGiB}, ${round.vmCount})`;
  if (vms.length === 0) return;
  const col = (k: keyof DomainRates) => vms.map((v) => v[k] as number);
  await db.$executeRaw`
    INSERT INTO "VmMetric" ("vmId", "hostId", "at", "step", "cpuPct", "memoryMiB", "rssMiB", "diskReadBps", "diskWriteBps", "diskReadIops", "diskWriteIops", "netRxBps", "netTxBps")
    SELECT u.v, ${hostId}::uuid, ${at}, ${step}, u.c, u.m, u.r, u.dr, u.dw, u.dri, u.dwi, u.rx, u.tx
    FROM unnest(${vms.map((v) => v.vmId)}::uuid[], ${col("cpuPct")}::float8[], ${col("memoryMiB")}::float8[], ${col("rssMiB")}::float8[],
                ${col("diskReadBps")}::float8[], ${col("diskWriteBps")}::float8[], ${col("diskReadIops")}::float8[], ${col("diskWriteIops")}::float8[],
                ${col("netRxBps")}::float8[], ${col("netTxBps")}::float8[]) AS u(v, c, m, r, dr, dw, dri, dwi, rx, tx)`;
}

export class MetricsCollector {
  private readonly last = new Map<string, HostMetricsSample>();
  private timers: NodeJS.Timeout[] = [];
  private round: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly hosts: HostPool,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly retention: MetricsRetention,
  ) {}

  start(): void {
    if (this.timers.length > 0) return;
    this.timers.push(setInterval(() => void this.collect(), this.intervalMs));
    this.timers.push(setInterval(() => void this.rollup().catch((err) => log.error({ err }, "metrics rollup failed")), ROLLUP_EVERY_MS));
    void this.collect();
  }

  stop(): void {
    this.timers.forEach(clearInterval);
    this.timers = [];
    // A new leader starts from a fresh reading: rates across a pause would average over it.
    this.last.clear();
  }

  /** One round over every enabled host; resolves when all have answered or failed. */
  collect(): Promise<void> {
    if (this.round) return this.round;
    this.round = (async () => {
      const hosts = await this.db.host.findMany({ where: { enabled: true }, select: { id: true, name: true, uri: true, diskFreeGiB: true } });
      await Promise.all(hosts.map((h) => this.collectHost(h).catch((err) => log.debug({ host: h.name, err: err instanceof Error ? err.message : err }, "metrics skipped"))));
    })()
      .catch((err) => log.error({ err }, "metrics round failed"))
      .finally(() => {
        this.round = null;
      });
    return this.round;
  }

  private async collectHost(h: { id: string; name: string; uri: string; diskFreeGiB: number | null }): Promise<void> {
    const sample = await this.hosts.get(h).metricsSample();
    const prev = this.last.get(h.id);
    this.last.set(h.id, sample);
    if (!prev) return; // rates need two readings
    const host = hostRates(prev, sample);
    const vms = domainRates(prev, sample);
    const at = new Date(sample.takenAtMs);
    const step = Math.max(1, Math.round(this.intervalMs / 1000));
    const rows = vms.length === 0 ? [] : await this.db.vm.findMany({ where: { domainName: { in: vms.map((v) => v.name) }, deletedAt: null }, select: { id: true, domainName: true } });
    const idOf = new Map(rows.map((r) => [r.domainName, r.id]));
    const known = vms.flatMap((v) => {
      const vmId = idOf.get(v.name);
      return vmId ? [{ vmId, ...v }] : []; // a domain vmdesk does not know is the reconciler's to report
    });
    await storeRound(this.db, { hostId: h.id, at, step, host, diskFreeGiB: h.diskFreeGiB, vmCount: sample.domains.filter((d) => d.running).length }, known);
  }

  /** Rolls complete 5-minute buckets up into averages, then drops what is past retention. */
  async rollup(): Promise<void> {
    const now = this.clock.now();
    // Only buckets that ended a minute ago: a slow host's last reading of a bucket may still be on its way.
    const bucketEnd = new Date(Math.floor((now.getTime() - 60_000) / (ROLLUP_STEP_S * 1000)) * ROLLUP_STEP_S * 1000);
    // One rollup at a time (a leader handing over may overlap with its successor's): each reads the
    // newest average the previous one wrote, so no bucket is averaged twice.
    await this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('vmdesk.metrics-rollup'))`;
      await tx.$executeRaw`
        INSERT INTO "HostMetric" ("hostId", "at", "step", "cpuPct", "memoryUsedMiB", "memoryTotalMiB", "diskFreeGiB", "vmCount")
        SELECT "hostId", date_bin('5 minutes', "at", TIMESTAMP '2000-01-01'), ${ROLLUP_STEP_S}, avg("cpuPct"), round(avg("memoryUsedMiB")), max("memoryTotalMiB"), min("diskFreeGiB"), round(avg("vmCount"))
        FROM "HostMetric" m
        WHERE "step" < ${ROLLUP_STEP_S} AND "at" < ${bucketEnd}
          AND "at" >= COALESCE((SELECT max(r."at") + interval '5 minutes' FROM "HostMetric" r WHERE r."hostId" = m."hostId" AND r."step" = ${ROLLUP_STEP_S}), '-infinity')
        GROUP BY 1, 2`;
      await tx.$executeRaw`
        INSERT INTO "VmMetric" ("vmId", "hostId", "at", "step", "cpuPct", "memoryMiB", "rssMiB", "diskReadBps", "diskWriteBps", "diskReadIops", "diskWriteIops", "netRxBps", "netTxBps")
        SELECT "vmId", (array_agg("hostId" ORDER BY "at" DESC))[1], date_bin('5 minutes', "at", TIMESTAMP '2000-01-01'), ${ROLLUP_STEP_S},
               avg("cpuPct"), avg("memoryMiB"), avg("rssMiB"), avg("diskReadBps"), avg("diskWriteBps"), avg("diskReadIops"), avg("diskWriteIops"), avg("netRxBps"), avg("netTxBps")
        FROM "VmMetric" m
        WHERE "step" < ${ROLLUP_STEP_S} AND "at" < ${bucketEnd}
          AND "at" >= COALESCE((SELECT max(r."at") + interval '5 minutes' FROM "VmMetric" r WHERE r."vmId" = m."vmId" AND r."step" = ${ROLLUP_STEP_S}), '-infinity')
        GROUP BY 1, 3`;
    });
    const rawBefore = new Date(now.getTime() - this.retention.rawHours * 3_600_000);
    const rollupBefore = new Date(now.getTime() - this.retention.rollupDays * 86_400_000);
    await this.db.$executeRaw`DELETE FROM "HostMetric" WHERE ("step" < ${ROLLUP_STEP_S} AND "at" < ${rawBefore}) OR ("step" = ${ROLLUP_STEP_S} AND "at" < ${rollupBefore})`;
    await this.db.$executeRaw`DELETE FROM "VmMetric" WHERE ("step" < ${ROLLUP_STEP_S} AND "at" < ${rawBefore}) OR ("step" = ${ROLLUP_STEP_S} AND "at" < ${rollupBefore})`;
  }
}
