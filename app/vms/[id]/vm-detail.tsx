"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { VncConsole } from "../../_components/console/vnc-console";
import { LiveIndicator } from "../../_components/live-indicator";
import { StateBadge, StatusPill } from "../../_components/state-badge";
import { ConfirmDialog, FormError, Loading, ProgressBar } from "../../_components/ui";
import { useLiveVm } from "../../_components/use-live";
import { MigrateControl } from "./migrate-control";
import { HaControl } from "./ha-control";
import { LeaseControl } from "./lease-control";
import { SerialLog } from "./serial-log";
import { SnapshotsPanel } from "./snapshots-panel";
import { ResizeControl } from "./resize-dialog";
import { VmMetrics } from "./vm-metrics";
import { domainTypeLabel, formatAgo, formatDateTime, formatDuration, formatMiB } from "../../_lib/format";
import { errorCode, useTRPC, useTRPCClient, type Operation, type VmDetail } from "../../_lib/trpc";

type Action = "start" | "shutdown" | "poweroff" | "reboot" | "pause" | "resume" | "delete";

/** Mirrors the server's state machine (server/domain/vm-state.ts) so buttons are only offered when they can work. */
const ACTIONS: { action: Action; label: string; allowed: readonly string[]; confirm?: string; tone?: "danger" | "primary" }[] = [
  { action: "start", label: "Start", allowed: ["stopped"], tone: "primary" },
  { action: "shutdown", label: "Shut down", allowed: ["running"] },
  { action: "reboot", label: "Reboot", allowed: ["running"] },
  { action: "pause", label: "Pause", allowed: ["running"] },
  { action: "resume", label: "Resume", allowed: ["paused"], tone: "primary" },
  { action: "poweroff", label: "Power off", allowed: ["running", "paused"], confirm: "Power off cuts the power immediately: unsaved data in the guest is lost." },
  { action: "delete", label: "Delete", allowed: ["running", "paused", "stopped", "error", "missing"], confirm: "Delete removes the VM and its disk for good. This cannot be undone.", tone: "danger" },
];

const DEFAULT_SHUTDOWN_TIMEOUT_S = 60;

function NotFound() {
  return (
    <div className="notice notice-error" role="alert" data-testid="vm-not-found">
      <strong>VM not found.</strong> It does not exist, was deleted, or is not yours. <Link href="/">Back to your VMs</Link>
    </div>
  );
}

function ActiveOperation({ op }: { op: Operation }) {
  return (
    <div className="active-op" data-testid="active-operation" data-operation-id={op.id} data-kind={op.kind} data-status={op.status}>
      <div className="active-op-head">
        <strong>{op.kind}</strong> <StatusPill status={op.status} />
        <span className="muted"> {op.progress}%</span>
      </div>
      <p className="active-op-step" data-testid="operation-step">
        {op.step ?? (op.status === "queued" ? "waiting for a worker" : "starting")}
      </p>
      <ProgressBar value={op.progress} label={`${op.kind} progress`} testId="operation-progress" />
    </div>
  );
}

function Actions({ vm }: { vm: VmDetail }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState<Action | null>(null);
  const [force, setForce] = useState(false);
  const [timeoutS, setTimeoutS] = useState(String(DEFAULT_SHUTDOWN_TIMEOUT_S));

  const run = useMutation({
    mutationFn: (action: Action) => {
      const id = vm.id;
      switch (action) {
        case "shutdown": {
          const t = Number(timeoutS);
          return client.vm.shutdown.mutate({ id, force, timeoutS: Number.isInteger(t) && t > 0 ? t : undefined });
        }
        case "start":
          return client.vm.start.mutate({ id });
        case "poweroff":
          return client.vm.poweroff.mutate({ id });
        case "reboot":
          return client.vm.reboot.mutate({ id });
        case "pause":
          return client.vm.pause.mutate({ id });
        case "resume":
          return client.vm.resume.mutate({ id });
        case "delete":
          return client.vm.delete.mutate({ id });
      }
    },
    onSuccess: (res) => {
      queryClient.setQueryData(trpc.vm.get.queryKey({ id: vm.id }), res.vm);
      void queryClient.invalidateQueries({ queryKey: trpc.vm.operations.queryKey({ id: vm.id }) });
      void queryClient.invalidateQueries({ queryKey: trpc.vm.list.pathKey() });
    },
  });

  const busy = run.isPending || Boolean(vm.activeOperationId);
  const pending = ACTIONS.find((a) => a.action === confirming);

  function trigger(action: Action) {
    run.reset();
    if (ACTIONS.find((a) => a.action === action)?.confirm) setConfirming(action);
    else run.mutate(action);
  }

  return (
    <section className="card" aria-labelledby="actions-title">
      <h2 id="actions-title" className="card-title">
        Actions
      </h2>
      <div className="action-bar" role="toolbar" aria-label="VM actions">
        {ACTIONS.map(({ action, label, allowed, tone }) => {
          const enabled = allowed.includes(vm.state) && !busy;
          return (
            <button
              key={action}
              type="button"
              className={`btn ${tone === "danger" ? "btn-danger-outline" : tone === "primary" ? "btn-primary" : ""}`}
              disabled={!enabled}
              title={allowed.includes(vm.state) ? undefined : `Needs the VM to be ${allowed.join(" or ")}`}
              onClick={() => trigger(action)}
              data-testid={`vm-action-${action}`}
            >
              {run.isPending && run.variables === action ? "…" : label}
            </button>
          );
        })}
      </div>
      <fieldset className="shutdown-opts" disabled={vm.state !== "running"}>
        <legend>Shutdown options</legend>
        <label className="check">
          <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="shutdown-force" />
          Force power-off after the timeout
        </label>
        <label className="field-inline">
          <span>Timeout (s)</span>
          <input type="number" min={1} max={3600} value={timeoutS} onChange={(e) => setTimeoutS(e.target.value)} data-testid="shutdown-timeout" />
        </label>
      </fieldset>
      {vm.activeOperationId ? (
        <p className="hint" style={{ marginTop: 8 }} data-testid="actions-busy">
          Another operation is in progress: actions return when it finishes.
        </p>
      ) : null}
      <FormError error={run.error} />
      <ConfirmDialog
        open={pending !== undefined}
        title={`${pending?.label ?? ""} “${vm.name}”?`}
        message={pending?.confirm}
        confirmLabel={pending?.label ?? "OK"}
        danger
        onCancel={() => setConfirming(null)}
        onConfirm={() => {
          if (confirming) run.mutate(confirming);
          setConfirming(null);
        }}
      />
    </section>
  );
}

function OperationsTable({ operations }: { operations: Operation[] }) {
  if (operations.length === 0) return <p className="muted">No operations yet.</p>;
  return (
    <div className="table-wrap">
      <table className="table" data-testid="operations-table">
        <thead>
          <tr>
            <th>Kind</th>
            <th>Status</th>
            <th>Step</th>
            <th>Progress</th>
            <th>Error</th>
            <th>Created</th>
            <th>Finished</th>
            <th>Took</th>
          </tr>
        </thead>
        <tbody>
          {operations.map((op) => (
            <tr key={op.id} data-testid="operation-row" data-operation-id={op.id} data-kind={op.kind} data-status={op.status}>
              <td>{op.kind}</td>
              <td>
                <StatusPill status={op.status} />
              </td>
              <td>{op.step ?? "—"}</td>
              <td className="col-progress">
                <ProgressBar value={op.progress} label={`${op.kind} progress`} /> <span className="muted">{op.progress}%</span>
              </td>
              <td className="cell-error">{op.error ?? ""}</td>
              <td className="nowrap">{formatDateTime(op.createdAt)}</td>
              <td className="nowrap">{formatDateTime(op.finishedAt)}</td>
              <td className="nowrap">{op.startedAt && op.finishedAt ? formatDuration(op.startedAt, op.finishedAt) : op.status === "running" ? "running" : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function VmDetailView({ id }: { id: string }) {
  const { vm, operations, live } = useLiveVm(id);
  const code = errorCode(vm.error);
  if (code === "NOT_FOUND" || code === "BAD_REQUEST") return <NotFound />;
  if (vm.isPending) return <Loading what="VM" />;
  if (!vm.data) return <FormError error={vm.error} />;
  const v = vm.data;

  return (
    <div data-testid="vm-detail" data-vm-id={v.id}>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/">My VMs</Link> <span aria-hidden="true">/</span> {v.name}
      </nav>
      <div className="page-head">
        <div>
          <h1 data-testid="vm-name">{v.name}</h1>
          <StateBadge state={v.state} guestReadyAt={v.guestReadyAt} />
          <LiveIndicator status={live} />
        </div>
      </div>
      {v.stateMessage ? (
        <p className={v.state === "error" || v.state === "missing" || v.state === "unknown" ? "notice notice-error" : "notice"} data-testid="vm-state-message">
          {v.stateMessage}
        </p>
      ) : null}

      <div className="detail-grid">
        <section className="card" aria-labelledby="overview-title">
          <h2 id="overview-title" className="card-title">
            Overview
          </h2>
          <dl className="props">
            <dt>libvirt</dt>
            <dd data-testid="vm-observed-state">
              {v.observedState ?? "not defined"} <span className="muted">(observed {formatAgo(v.observedAt)})</span>
            </dd>
            <dt>Guest</dt>
            <dd data-testid="vm-guest-ready">
              {v.guestReadyAt ? `ready since ${formatDateTime(v.guestReadyAt)}` : v.state === "running" ? "booting: no console output yet" : "—"}
            </dd>
            <dt>Specs</dt>
            <dd data-testid="vm-specs">
              {v.vcpus} vCPU · {formatMiB(v.memoryMiB)} memory · {v.diskGiB} GiB disk <ResizeControl vm={v} />
            </dd>
            <dt>Host</dt>
            <dd data-testid="vm-host">
              {v.host.name}{" "}
              <span className={v.host.domainType === "kvm" ? "tag tag-kvm" : "tag tag-tcg"} data-testid="vm-host-domain-type">
                {domainTypeLabel(v.host.domainType)}
              </span>
              <MigrateControl vm={v} />
            </dd>
            <dt>High availability</dt>
            <dd>
              <HaControl vm={v} />
            </dd>
            {v.class ? null : (
              <>
                <dt>Lease</dt>
                <dd>
                  <LeaseControl vm={v} />
                </dd>
              </>
            )}
            <dt>Image</dt>
            <dd data-testid="vm-image">{v.image ? `${v.image.name} (${v.image.format})` : "—"}</dd>
            <dt>Owner</dt>
            <dd data-testid="vm-owner">{v.owner.username}</dd>
            <dt>Created</dt>
            <dd>{formatDateTime(v.createdAt)}</dd>
            <dt>Domain</dt>
            <dd className="mono">{v.domainName}</dd>
            <dt>ID</dt>
            <dd className="mono">{v.id}</dd>
          </dl>
        </section>

        <div className="stack">
          <Actions vm={v} />
          {v.activeOperation ? (
            <section className="card" aria-label="Current operation">
              <h2 className="card-title">Current operation</h2>
              <ActiveOperation op={v.activeOperation} />
            </section>
          ) : null}
        </div>
      </div>

      <section className="card" aria-labelledby="console-title" data-testid="console-section">
        <div className="card-title-row">
          <h2 id="console-title" className="card-title">
            Console
          </h2>
          <div className="card-title-links">
            {v.state === "running" ? (
              <Link href={`/vms/${v.id}/console`} data-testid="console-open-page">
                Open full page
              </Link>
            ) : null}
            <Link href={`/vms/${v.id}/serial`} data-testid="console-open-serial">
              Open serial console
            </Link>
          </div>
        </div>
        {v.state === "running" ? (
          <VncConsole vmId={v.id} vmState={v.state} vmBusy={Boolean(v.activeOperationId)} />
        ) : (
          <div className="console-placeholder" data-testid="console-unavailable">
            {v.state === "paused" ? "The VM is paused: resume it to use its console." : "Start the VM to use its console."}
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="snapshots-title">
        <h2 id="snapshots-title" className="card-title">
          Snapshots
        </h2>
        <SnapshotsPanel vm={v} />
      </section>

      <section className="card" aria-labelledby="metrics-title">
        <h2 id="metrics-title" className="card-title">
          Metrics
        </h2>
        <VmMetrics vmId={v.id} />
      </section>

      <section className="card" aria-labelledby="serial-log-title">
        <h2 id="serial-log-title" className="card-title">
          Serial log
        </h2>
        <SerialLog vmId={v.id} />
      </section>

      <section className="card" aria-labelledby="ops-title">
        <h2 id="ops-title" className="card-title">
          Operation history
        </h2>
        {operations.data ? <OperationsTable operations={operations.data} /> : operations.error ? <FormError error={operations.error} testId="operations-error" /> : <Loading what="operations" />}
      </section>
    </div>
  );
}
