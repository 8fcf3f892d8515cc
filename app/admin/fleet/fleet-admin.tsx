"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { UsageBar } from "../../_components/fleet/usage-bar";
import { usagePct } from "../../_components/fleet/usage";
import { MetricsChart } from "../../_components/metrics/metrics-chart";
import { StatusPill } from "../../_components/state-badge";
import { FormError, Loading } from "../../_components/ui";
import { formatAgo, formatDateTime, formatMiB } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";
import { HostThresholds } from "./host-thresholds";

type Fleet = RouterOutputs["host"]["fleetOverview"];
type FleetHost = Fleet["hosts"][number];

const STATES = ["up", "degraded", "down", "maintenance", "disabled"] as const;
const COLORS = { cpu: "#2563eb", memory: "#16a34a", disk: "#9333ea" };

function MetricRow({
  label,
  pct,
  detail,
  thresholdPct,
  values,
  times,
  color,
  testId,
}: {
  label: string;
  pct: number | null;
  detail: string;
  thresholdPct: number;
  values: Array<number | null>;
  times: Date[];
  color: string;
  testId: string;
}) {
  return (
    <div className="fleet-metric">
      <UsageBar label={label} pct={pct} detail={detail} thresholdPct={thresholdPct} testId={testId} />
      <MetricsChart compact title={`${label}, last hour (%)`} unit="%" yMax={100} times={times} series={[{ label, values, color }]} testId={`${testId}-sparkline`} />
    </div>
  );
}

function HostCard({ host, fleet, times }: { host: FleetHost; fleet: Fleet; times: Date[] }) {
  const r = host.latest;
  const { freeGiB, totalGiB } = host.storage;
  const usedGiB = freeGiB !== null && totalGiB !== null ? Math.max(0, totalGiB - freeGiB) : null;
  return (
    <article className="card fleet-card" data-testid="fleet-host" data-host-id={host.id} data-host-name={host.name} data-state={host.state} data-reading-at={r ? r.at.toISOString() : ""}>
      <div className="fleet-card-head">
        <div>
          <strong>{host.name}</strong>
          <StatusPill status={host.state} />
        </div>
        <span
          className="muted"
          title="VMs: what vmdesk holds on this host (running, stopped, being created or deleted); guests running: every running domain the newest reading counted"
          data-testid="fleet-host-vms"
          data-vms={host.vmCount}
          data-running={r?.runningVms ?? ""}
        >
          {host.vmCount} VM{host.vmCount === 1 ? "" : "s"}
          {r ? ` · ${r.runningVms} guest${r.runningVms === 1 ? "" : "s"} running` : ""}
        </span>
      </div>
      <MetricRow
        label="CPU"
        pct={r ? r.cpuPct : null}
        detail={host.cpus !== null ? `${host.cpus} CPUs` : ""}
        thresholdPct={host.thresholds.cpu.abovePct}
        values={host.series.cpuPct}
        times={times}
        color={COLORS.cpu}
        testId="fleet-cpu"
      />
      <MetricRow
        label="Memory"
        pct={r ? usagePct(r.memoryUsedMiB, r.memoryTotalMiB) : null}
        detail={r ? `${formatMiB(r.memoryUsedMiB)} / ${formatMiB(r.memoryTotalMiB)}` : "—"}
        thresholdPct={host.thresholds.memory.abovePct}
        values={host.series.memoryPct}
        times={times}
        color={COLORS.memory}
        testId="fleet-memory"
      />
      <MetricRow
        label="Storage pool"
        pct={usagePct(usedGiB, totalGiB)}
        detail={usedGiB !== null ? `${usedGiB} / ${totalGiB} GiB` : "—"}
        thresholdPct={host.thresholds.disk.abovePct}
        values={host.series.diskPct}
        times={times}
        color={COLORS.disk}
        testId="fleet-disk"
      />
      <div className="muted" title={r ? formatDateTime(r.at) : undefined}>
        {r ? `reading ${formatAgo(r.at)}` : "no reading in the last hour"}
        {host.lastError ? <span className="cell-error"> · {host.lastError}</span> : null}
      </div>
      <details data-testid="fleet-host-thresholds">
        <summary>Alert thresholds</summary>
        <HostThresholds host={host} global={fleet.global} />
      </details>
    </article>
  );
}

/** Every host's state, use against its alert thresholds and last hour; polled every 10 s. */
export function FleetAdmin() {
  const trpc = useTRPC();
  const fleet = useQuery({ ...trpc.host.fleetOverview.queryOptions(), refetchInterval: 10_000 });
  const data = fleet.data;
  const times = data ? Array.from({ length: data.points }, (_, i) => new Date(data.from.getTime() + i * data.step * 1000)) : [];
  return (
    <div className="stack">
      <div className="page-head">
        <h1>Fleet</h1>
        {data ? (
          <div className="fleet-summary" data-testid="fleet-summary">
            {STATES.map((s) => {
              const n = data.hosts.filter((h) => h.state === s).length;
              return n > 0 ? (
                <span key={s} data-state={s} data-count={n}>
                  <StatusPill status={s} /> {n}
                </span>
              ) : null;
            })}
          </div>
        ) : null}
      </div>
      {fleet.error ? <FormError error={fleet.error} /> : null}
      {!data ? (
        fleet.error ? null : <Loading what="the fleet" />
      ) : data.hosts.length === 0 ? (
        <p className="muted">
          No hosts yet: add one on the <Link href="/admin/hosts">Hosts</Link> page.
        </p>
      ) : (
        <div className="fleet-grid" data-testid="fleet-grid">
          {data.hosts.map((h) => (
            <HostCard key={h.id} host={h} fleet={data} times={times} />
          ))}
        </div>
      )}
      <p className="muted">
        Bars: the newest reading (storage: the host monitor&apos;s last look); the line on each bar is the host&apos;s alert threshold. Sparklines: the last hour in {data ? `${data.step} s` : "—"} averages.
        Global thresholds are set on the <Link href="/admin/alerts">Alerts</Link> page.
      </p>
    </div>
  );
}
