/**
 * GET /metrics: the Prometheus exposition (text format 0.0.4), for a bearer token with the
 * `metrics` scope (or an admin's session-less token holding it; see domain/policy). Host and VM
 * gauges come from the newest readings the metrics collector stored (any portal instance can answer,
 * not only the leader); a reading older than three intervals is left out rather than shown as
 * current. The portal's own series (HTTP latency, libvirt call latency per host) come from this
 * process's registry (server/observability.ts); operation queue and console sessions are read now.
 */
import client from "prom-client";
import { config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { fleetState } from "../domain/host-state.ts";
import { can } from "../domain/policy.ts";
import { registry } from "../observability.ts";
import { resolveApiToken } from "../services/auth-service.ts";

export interface ScrapeResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const json = (status: number, code: string, message: string, extra: Record<string, string> = {}): ScrapeResult => ({
  status,
  headers: { "content-type": "application/json", ...extra },
  body: JSON.stringify({ code, message }),
});

/** Answers one scrape: 401 without a valid bearer token, 403 without the metrics scope. */
export async function scrape(db: Db, authorization: string | undefined, live: { consoleSessions: () => number }): Promise<ScrapeResult> {
  const secret = /^Bearer (\S+)$/.exec(authorization ?? "")?.[1];
  const actor = secret ? await resolveApiToken(db, secret) : null;
  if (!actor) return json(401, "UNAUTHORIZED", "a bearer token with the metrics scope is required", { "www-authenticate": 'Bearer realm="vmdesk"' });
  if (!can(actor, "metrics.scrape")) return json(403, "FORBIDDEN", 'this token lacks the "metrics" scope (or its owner is not an admin)');
  const fleet = await fleetRegistry(db, live);
  const body = (await registry.metrics()) + "\n" + (await fleet.metrics());
  return { status: 200, headers: { "content-type": client.Registry.PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" }, body };
}

async function fleetRegistry(db: Db, live: { consoleSessions: () => number }): Promise<client.Registry> {
  const r = new client.Registry();
  const gauge = (name: string, help: string, labelNames: string[]) => new client.Gauge({ name, help, labelNames, registers: [r] });
  const since = new Date(Date.now() - 3 * config().VMDESK_METRICS_INTERVAL_MS);

  const [hosts, hostRows, vmRows, queue] = await Promise.all([
    db.host.findMany({ select: { id: true, name: true, enabled: true, maintenance: true, state: true, lastError: true } }),
    db.$queryRaw<Array<{ hostId: string; cpuPct: number; memoryUsedMiB: number; memoryTotalMiB: number; diskFreeGiB: number | null; vmCount: number }>>`
      SELECT DISTINCT ON ("hostId") "hostId"::text AS "hostId", "cpuPct", "memoryUsedMiB", "memoryTotalMiB", "diskFreeGiB", "vmCount"
      FROM "HostMetric" WHERE "step" < 300 AND "at" > ${since} ORDER BY "hostId", "at" DESC`,
    db.$queryRaw<Array<{ vmId: string; name: string; hostName: string; cpuPct: number; memoryMiB: number; rssMiB: number; diskReadBps: number; diskWriteBps: number; diskReadIops: number; diskWriteIops: number; netRxBps: number; netTxBps: number }>>`
      SELECT DISTINCT ON (m."vmId") m."vmId"::text AS "vmId", v."name", h."name" AS "hostName", m."cpuPct", m."memoryMiB", m."rssMiB",
             m."diskReadBps", m."diskWriteBps", m."diskReadIops", m."diskWriteIops", m."netRxBps", m."netTxBps"
      FROM "VmMetric" m JOIN "Vm" v ON v."id" = m."vmId" AND v."deletedAt" IS NULL JOIN "Host" h ON h."id" = m."hostId"
      WHERE m."step" < 300 AND m."at" > ${since} ORDER BY m."vmId", m."at" DESC`,
    db.$queryRaw<Array<{ queued: number; running: number; oldest: number | null }>>`
      SELECT count(*) FILTER (WHERE "status" = 'queued')::int AS "queued", count(*) FILTER (WHERE "status" = 'running')::int AS "running",
             extract(epoch FROM now() - min("createdAt") FILTER (WHERE "status" = 'queued'))::float8 AS "oldest"
      FROM "Operation" WHERE "status" IN ('queued', 'running')`,
  ]);
  const nameOf = new Map(hosts.map((h) => [h.id, h.name]));

  const state = gauge("vmdesk_host_state", "1 for the host's current fleet state (up, degraded, down, maintenance, disabled)", ["host", "state"]);
  for (const h of hosts) state.set({ host: h.name, state: fleetState(h) }, 1);
  const hostCpu = gauge("vmdesk_host_cpu_percent", "busy share of all the host's CPUs", ["host"]);
  const hostMemUsed = gauge("vmdesk_host_memory_used_bytes", "host memory in use (not free, buffers or cache)", ["host"]);
  const hostMemTotal = gauge("vmdesk_host_memory_total_bytes", "host memory", ["host"]);
  const hostDisk = gauge("vmdesk_host_pool_free_bytes", "free space in the host's storage pool", ["host"]);
  const hostVms = gauge("vmdesk_host_vms_running", "running guests on the host", ["host"]);
  const MiB = 1024 * 1024;
  for (const m of hostRows) {
    const host = nameOf.get(m.hostId);
    if (!host) continue;
    hostCpu.set({ host }, m.cpuPct);
    hostMemUsed.set({ host }, m.memoryUsedMiB * MiB);
    hostMemTotal.set({ host }, m.memoryTotalMiB * MiB);
    if (m.diskFreeGiB !== null) hostDisk.set({ host }, m.diskFreeGiB * 1024 * MiB);
    hostVms.set({ host }, m.vmCount);
  }

  const vmLabels = ["vm", "name", "host"];
  const vmGauges = {
    cpuPct: gauge("vmdesk_vm_cpu_percent", "share of the VM's own vCPUs in use", vmLabels),
    memory: gauge("vmdesk_vm_memory_bytes", "guest memory as the balloon sets it", vmLabels),
    rss: gauge("vmdesk_vm_rss_bytes", "QEMU's resident memory on the host", vmLabels),
    diskRead: gauge("vmdesk_vm_disk_read_bytes_per_second", "disk reads", vmLabels),
    diskWrite: gauge("vmdesk_vm_disk_write_bytes_per_second", "disk writes", vmLabels),
    diskReadIops: gauge("vmdesk_vm_disk_read_iops", "disk read requests per second", vmLabels),
    diskWriteIops: gauge("vmdesk_vm_disk_write_iops", "disk write requests per second", vmLabels),
    netRx: gauge("vmdesk_vm_network_receive_bytes_per_second", "network bytes received", vmLabels),
    netTx: gauge("vmdesk_vm_network_transmit_bytes_per_second", "network bytes sent", vmLabels),
  };
  for (const m of vmRows) {
    const l = { vm: m.vmId, name: m.name, host: m.hostName };
    vmGauges.cpuPct.set(l, m.cpuPct);
    vmGauges.memory.set(l, m.memoryMiB * MiB);
    vmGauges.rss.set(l, m.rssMiB * MiB);
    vmGauges.diskRead.set(l, m.diskReadBps);
    vmGauges.diskWrite.set(l, m.diskWriteBps);
    vmGauges.diskReadIops.set(l, m.diskReadIops);
    vmGauges.diskWriteIops.set(l, m.diskWriteIops);
    vmGauges.netRx.set(l, m.netRxBps);
    vmGauges.netTx.set(l, m.netTxBps);
  }

  const q = queue[0] ?? { queued: 0, running: 0, oldest: null };
  gauge("vmdesk_operations_queued", "operations waiting for a worker", []).set(q.queued);
  gauge("vmdesk_operations_running", "operations a worker is running", []).set(q.running);
  gauge("vmdesk_operation_oldest_queued_seconds", "age of the oldest queued operation (0: none)", []).set(q.oldest ?? 0);
  gauge("vmdesk_console_sessions", "console sessions this portal process serves", []).set(live.consoleSessions());
  return r;
}
