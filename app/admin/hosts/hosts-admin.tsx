"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { MetricsChart } from "../../_components/metrics/metrics-chart";
import { StatusPill } from "../../_components/state-badge";
import { FormError, Loading } from "../../_components/ui";
import { domainTypeLabel, formatAgo, formatDateTime, formatMiB } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";

type Host = RouterOutputs["host"]["list"][number];
type DomainType = "kvm" | "qemu";
type CpuMode = "host-passthrough" | "host-model" | "none";

function AddHostForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [uri, setUri] = useState("qemu:///system");
  const [domainType, setDomainType] = useState<DomainType>("kvm");
  const [cpuMode, setCpuMode] = useState<CpuMode>("host-passthrough");
  const [poolPath, setPoolPath] = useState("/var/lib/vmdesk/pool");
  const [poolShared, setPoolShared] = useState(false);
  const create = useMutation(
    trpc.host.create.mutationOptions({
      onSuccess: () => {
        setName("");
        void queryClient.invalidateQueries({ queryKey: trpc.host.list.queryKey() });
      },
    }),
  );

  function onDomainType(value: DomainType) {
    setDomainType(value);
    // TCG cannot pass the host CPU through; KVM normally should.
    setCpuMode(value === "qemu" ? "none" : "host-passthrough");
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ name: name.trim(), uri: uri.trim(), domainType, cpuMode, poolPath: poolPath.trim(), poolShared });
  }

  return (
    <section className="card" aria-labelledby="add-host-title">
      <h2 id="add-host-title" className="card-title">
        Add host
      </h2>
      <form className="inline-form" onSubmit={onSubmit} data-testid="host-create-form">
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required data-testid="host-create-name" />
        </label>
        <label className="field grow">
          <span>libvirt URI</span>
          <input value={uri} onChange={(e) => setUri(e.target.value)} required placeholder="qemu+ssh://host/system" data-testid="host-create-uri" />
        </label>
        <label className="field">
          <span>Virtualization</span>
          <select value={domainType} onChange={(e) => onDomainType(e.target.value as DomainType)} data-testid="host-create-domaintype">
            <option value="kvm">KVM (hardware)</option>
            <option value="qemu">TCG emulation</option>
          </select>
        </label>
        <label className="field">
          <span>CPU mode</span>
          <select value={cpuMode} onChange={(e) => setCpuMode(e.target.value as CpuMode)} data-testid="host-create-cpumode">
            <option value="host-passthrough">host-passthrough</option>
            <option value="host-model">host-model</option>
            <option value="none">none</option>
          </select>
        </label>
        <label className="field grow">
          <span>Storage pool path</span>
          <input value={poolPath} onChange={(e) => setPoolPath(e.target.value)} required data-testid="host-create-poolpath" />
        </label>
        <label className="field" title="The pool directory is shared storage (NFS, CephFS) mounted at this path on every host that declares it: VMs move between such hosts memory only">
          <span>Shared storage</span>
          <input type="checkbox" checked={poolShared} onChange={(e) => setPoolShared(e.target.checked)} data-testid="host-create-poolshared" />
        </label>
        <button type="submit" className="btn btn-primary" disabled={create.isPending} data-testid="host-create-submit">
          {create.isPending ? "Adding…" : "Add host"}
        </button>
      </form>
      {uri.trim().startsWith("qemu+tcp:") ? (
        <p className="notice notice-warn" role="alert" data-testid="host-create-tcp-warning">
          qemu+tcp is unauthenticated and unencrypted: anyone who can reach that port controls the host. Use it only on a trusted, isolated network; prefer qemu+tls or qemu+ssh.
        </p>
      ) : null}
      <FormError error={create.error} />
    </section>
  );
}

/** The host's last hour of CPU and memory use as a sparkline, with the latest values. */
function HostUsage({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const metrics = useQuery({ ...trpc.host.metrics.queryOptions({ id: hostId }), refetchInterval: 10_000 });
  const points = metrics.data?.points ?? [];
  const last = points.at(-1);
  if (!last) return <div className="muted">no readings yet</div>;
  return (
    <div data-testid="host-usage" data-cpu={last.cpuPct.toFixed(1)}>
      <MetricsChart
        compact
        title="CPU and memory use, last hour (%)"
        unit="%"
        yMax={100}
        times={points.map((p) => new Date(p.at))}
        series={[
          { label: "CPU", values: points.map((p) => p.cpuPct), color: "#2563eb" },
          { label: "memory", values: points.map((p) => (100 * p.memoryUsedMiB) / Math.max(1, p.memoryTotalMiB)), color: "#16a34a" },
        ]}
        testId="host-sparkline"
      />
      <div className="muted nowrap">
        CPU {last.cpuPct.toFixed(0)} % · memory {((100 * last.memoryUsedMiB) / Math.max(1, last.memoryTotalMiB)).toFixed(0)} %
      </div>
    </div>
  );
}

/** What the host's VMs hold against what placement may give out (CPUs × ratio, memory after the reserve × ratio). */
function CapacityBar({ label, used, capacity, format, testId }: { label: string; used: number; capacity: number | null; format: (n: number) => string; testId: string }) {
  const pct = capacity ? Math.min(100, (used / capacity) * 100) : 0;
  return (
    <div className="quota-row" data-testid={testId} data-used={used} data-capacity={capacity ?? ""}>
      <div className="quota-label">
        <span>{label}</span>
        <span className="quota-num">
          {format(used)} / {capacity === null ? "?" : format(capacity)}
        </span>
      </div>
      <div className="quota-track" aria-hidden="true">
        <div className={pct >= 90 ? "quota-used high" : "quota-used"} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function HostRow({ host }: { host: Host }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const update = useMutation(trpc.host.update.mutationOptions({ onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.host.list.queryKey() }) }));
  const maintenance = useMutation(trpc.host.maintenance.mutationOptions({ onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.host.list.queryKey() }) }));
  const inMaintenance = host.state === "maintenance";
  const memory = host.memoryMiB !== null ? `${formatMiB(host.freeMemoryMiB)} free / ${formatMiB(host.memoryMiB)}` : "—";
  return (
    <tr data-testid="host-row" data-host-name={host.name} data-state={host.state}>
      <td>
        <strong>{host.name}</strong>
        <div className="mono muted">{host.uri}</div>
        {host.uri.startsWith("qemu+tcp:") ? (
          <div className="notice notice-warn" data-testid="host-tcp-warning">
            unauthenticated transport (qemu+tcp)
          </div>
        ) : null}
        {host.hostname ? <div className="muted">{host.hostname}</div> : null}
      </td>
      <td>
        <StatusPill status={host.state} />
        {inMaintenance ? (
          <div className="muted" data-testid="host-drain" data-remaining={host.vmCount} data-moving={host.migratingAway}>
            {host.vmCount === 0 ? "drained" : `draining: ${host.vmCount} VM${host.vmCount === 1 ? "" : "s"} left, ${host.migratingAway} moving`}
          </div>
        ) : null}
        {host.state !== "down" && host.connection !== "connected" ? <div className="muted">{host.connection}</div> : null}
      </td>
      <td className="nowrap" title={formatDateTime(host.lastSeenAt)}>
        {formatAgo(host.lastSeenAt)}
      </td>
      <td>
        <span className={host.domainType === "kvm" ? "tag tag-kvm" : "tag tag-tcg"} data-testid="host-domain-type">
          {domainTypeLabel(host.domainType)}
        </span>
        <div className="muted">{host.cpuMode}</div>
        <div className="muted mono" title={host.poolShared ? "shared storage: VMs move memory only between hosts sharing this pool" : "this host's own storage"} data-testid="host-pool">
          {host.poolPath}
          {host.poolShared ? " (shared)" : ""}
        </div>
      </td>
      <td className="cell-quota">
        <HostUsage hostId={host.id} />
        <CapacityBar label="vCPUs" used={host.allocated.vcpus} capacity={host.capacity.vcpus} format={String} testId="host-vcpus" />
        <CapacityBar label="Memory" used={host.allocated.memoryMiB} capacity={host.capacity.memoryMiB} format={formatMiB} testId="host-memory" />
        <div className="muted nowrap">
          {host.cpus ?? "—"} CPUs × {host.cpuRatio} · {memory}
        </div>
        {host.hugepages.map((p) => (
          <div className="muted nowrap" key={p.sizeKiB} data-testid="host-hugepages" data-size-kib={p.sizeKiB} data-total={p.total} data-free={p.free}>
            huge pages {p.sizeKiB >= 1024 * 1024 ? `${p.sizeKiB / 1024 / 1024} GiB` : `${p.sizeKiB / 1024} MiB`}: {p.free} free / {p.total}
          </div>
        ))}
        {Object.keys(host.labels).length ? (
          <div className="muted mono">
            {Object.entries(host.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(" ")}
          </div>
        ) : null}
      </td>
      <td className="num nowrap">{host.diskFreeGiB !== null ? `${host.diskFreeGiB} GiB` : "—"}</td>
      <td>{host.libvirtVersion ?? "—"}</td>
      <td className="num">{host.vmCount}</td>
      <td className="cell-error">{host.lastError ?? ""}</td>
      <td>
        <button type="button" className="btn btn-sm" disabled={update.isPending} onClick={() => update.mutate({ id: host.id, enabled: !host.enabled })} data-testid={`host-toggle-${host.name}`}>
          {host.enabled ? "Disable" : "Enable"}
        </button>
        <button
          type="button"
          className="btn btn-sm"
          disabled={maintenance.isPending || !host.enabled}
          onClick={() => maintenance.mutate({ id: host.id, enabled: !inMaintenance })}
          data-testid={`host-maintenance-${host.name}`}
          title={inMaintenance ? "Take new VMs again" : "Take no new VMs and live-migrate every running VM away"}
        >
          {inMaintenance ? "End maintenance" : "Maintenance"}
        </button>
        {maintenance.data && maintenance.data.staying.length ? (
          <ul className="cell-error" data-testid="host-drain-staying">
            {maintenance.data.staying.map((v) => (
              <li key={v.vmId}>
                {v.name}: {v.reason}
              </li>
            ))}
          </ul>
        ) : null}
        <FormError error={update.error} />
        <FormError error={maintenance.error} />
      </td>
    </tr>
  );
}

export function HostsAdmin() {
  const trpc = useTRPC();
  const hosts = useQuery({ ...trpc.host.list.queryOptions(), refetchInterval: 10_000 });
  return (
    <>
      <div className="page-head">
        <h1>Hosts</h1>
      </div>
      <AddHostForm />
      <section className="card" aria-label="Hosts">
        {hosts.isPending ? (
          <Loading what="hosts" />
        ) : hosts.error ? (
          <FormError error={hosts.error} />
        ) : hosts.data.length === 0 ? (
          <p className="muted">No hosts yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="hosts-table">
              <thead>
                <tr>
                  <th>Host</th>
                  <th>State</th>
                  <th>Last seen</th>
                  <th>Type</th>
                  <th>Allocated / capacity</th>
                  <th className="num">Disk free</th>
                  <th>libvirt</th>
                  <th className="num">VMs</th>
                  <th>Last error</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {hosts.data.map((h) => (
                  <HostRow key={h.id} host={h} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
