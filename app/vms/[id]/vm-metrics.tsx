"use client";

import { useQuery } from "@tanstack/react-query";
import { MetricsChart } from "../../_components/metrics/metrics-chart";
import { FormError, Loading } from "../../_components/ui";
import { useTRPC } from "../../_lib/trpc";

const REFRESH_MS = 10_000;

/** The VM's last hour: CPU, memory, disk and network, refreshed every 10 s. */
export function VmMetrics({ vmId }: { vmId: string }) {
  const trpc = useTRPC();
  // No from/to: the server's default window (the last hour, ending now) moves on with every refetch.
  const metrics = useQuery({ ...trpc.vm.metrics.queryOptions({ id: vmId }), refetchInterval: REFRESH_MS });
  if (metrics.error) return <FormError error={metrics.error} testId="vm-metrics-error" />;
  if (!metrics.data) return <Loading what="metrics" />;
  const points = metrics.data.points;
  if (points.length === 0) return <p className="muted" data-testid="vm-metrics-empty">No readings yet: they start once the VM runs (one every 10 s).</p>;
  const times = points.map((p) => new Date(p.at));
  const KiB = 1024;
  return (
    <div className="metrics-grid" data-testid="vm-metrics">
      <MetricsChart title="CPU" unit="%" yMax={100} times={times} series={[{ label: "CPU", values: points.map((p) => p.cpuPct), color: "#2563eb" }]} testId="vm-chart-cpu" />
      <MetricsChart
        title="Memory (MiB)"
        unit=""
        yMax={metrics.data.vm.memoryMiB}
        times={times}
        series={[
          { label: "guest", values: points.map((p) => p.memoryMiB), color: "#16a34a" },
          { label: "on host", values: points.map((p) => p.rssMiB), color: "#9333ea" },
        ]}
        testId="vm-chart-memory"
      />
      <MetricsChart
        title="Disk (KiB/s)"
        unit=""
        times={times}
        series={[
          { label: "read", values: points.map((p) => p.diskReadBps / KiB), color: "#0891b2" },
          { label: "write", values: points.map((p) => p.diskWriteBps / KiB), color: "#ea580c" },
        ]}
        testId="vm-chart-disk"
      />
      <MetricsChart
        title="Network (KiB/s)"
        unit=""
        times={times}
        series={[
          { label: "in", values: points.map((p) => p.netRxBps / KiB), color: "#0d9488" },
          { label: "out", values: points.map((p) => p.netTxBps / KiB), color: "#db2777" },
        ]}
        testId="vm-chart-network"
      />
    </div>
  );
}
