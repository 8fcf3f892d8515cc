"use client";

import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useEffect, useRef, useState } from "react";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { StateBadge } from "../state-badge";
import { ConfirmDialog, FormError, ProgressBar } from "../ui";
import { isBusy, type BulkResult, type ClassDetail, type Student } from "./use-class";

type Bulk = "start" | "stop" | "reset" | "delete";
const BULK_LABEL: Record<Bulk, string> = { start: "Start", stop: "Stop", reset: "Reset", delete: "Delete" };

function BulkOutcome({ result }: { result: { action: Bulk; res: BulkResult } }) {
  const { action, res } = result;
  return (
    <div className={res.skipped.length ? "notice notice-warn" : "notice notice-success"} data-testid="bulk-result" data-queued={res.queued.length} data-skipped={res.skipped.length}>
      {BULK_LABEL[action]}: {res.queued.length} queued
      {res.skipped.length ? (
        <>
          , {res.skipped.length} skipped:
          <ul className="skip-list">
            {res.skipped.map((s) => (
              <li key={s.username} data-testid="bulk-skipped">
                <strong>{s.username}</strong>: {s.reason}
              </li>
            ))}
          </ul>
        </>
      ) : (
        "."
      )}
    </div>
  );
}

function OperationCell({ s }: { s: Student }) {
  if (s.operation)
    return (
      <div className="op-cell" data-testid="student-op" data-kind={s.operation.kind} data-status={s.operation.status}>
        <span className="op-cell-text">
          {s.operation.kind}
          {s.operation.step ? <span className="muted"> · {s.operation.step}</span> : s.operation.status === "queued" ? <span className="muted"> · queued</span> : null}
        </span>
        <ProgressBar value={s.operation.progress} label={`${s.username}: ${s.operation.kind}`} />
      </div>
    );
  if (s.lastFailure)
    return (
      <p className="cell-error" data-testid="student-failure" title={s.lastFailure.error ?? undefined}>
        {s.lastFailure.kind} failed{s.lastFailure.error ? `: ${s.lastFailure.error}` : ""}
      </p>
    );
  return <span className="muted">—</span>;
}

/**
 * The roster: each student with their VM's state and current operation, per-student actions, a
 * selection for the bulk actions, and Retry for a VM that failed to be created (the broken VM is
 * deleted first, then provisioned again for that student alone).
 */
export function RosterTable({ c, onChanged, onView }: { c: ClassDetail; onChanged: () => void; onView: (s: Student) => void }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [outcome, setOutcome] = useState<{ action: Bulk; res: BulkResult } | null>(null);
  const [confirm, setConfirm] = useState<{ action: Bulk; userIds?: string[]; who: string } | null>(null);
  const retrying = useRef(new Set<string>());

  const bulk = useMutation({
    mutationFn: async ({ action, userIds }: { action: Bulk; userIds?: string[] }) => {
      const input = { id: c.id, userIds };
      const res = action === "start" ? await client.class.startAll.mutate(input) : action === "stop" ? await client.class.stopAll.mutate(input) : action === "reset" ? await client.class.resetAll.mutate(input) : await client.class.deleteAll.mutate(input);
      return { action, res };
    },
    onSuccess: (r) => {
      setOutcome(r);
      onChanged();
    },
  });
  const provisionOne = useMutation(trpc.class.provision.mutationOptions({ onSuccess: onChanged }));
  const removeVm = useMutation(trpc.vm.delete.mutationOptions({ onSuccess: onChanged }));
  const removeStudent = useMutation(trpc.class.removeStudent.mutationOptions({ onSuccess: onChanged }));

  // Retry, second half: once the failed VM is gone, provision that student again.
  useEffect(() => {
    for (const s of c.students) {
      if (retrying.current.has(s.userId) && !s.vmId) {
        retrying.current.delete(s.userId);
        provisionOne.mutate({ id: c.id, userIds: [s.userId] });
      }
    }
  }, [c, provisionOne]);

  function retry(s: Student) {
    if (!s.vmId) return provisionOne.mutate({ id: c.id, userIds: [s.userId] });
    retrying.current.add(s.userId);
    removeVm.mutate({ id: s.vmId });
  }

  const ids = c.students.map((s) => s.userId);
  const selection = ids.filter((id) => selected.has(id));
  const scope = selection.length ? selection : undefined;
  const scopeLabel = selection.length ? `selected (${selection.length})` : "all";
  const toggle = (id: string, on: boolean) =>
    setSelected((old) => {
      const next = new Set(old);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  function run(action: Bulk, userIds: string[] | undefined, who: string) {
    if (action === "reset" || action === "delete") setConfirm({ action, userIds, who });
    else bulk.mutate({ action, userIds });
  }

  return (
    <>
      <div className="bulk-bar" role="toolbar" aria-label="Actions on student VMs">
        <span className="muted">{selection.length ? `${selection.length} selected` : "No selection: actions apply to every student"}</span>
        {(["start", "stop", "reset", "delete"] as const).map((a) => (
          <button key={a} type="button" className={a === "delete" ? "btn btn-sm btn-danger-outline" : "btn btn-sm"} disabled={bulk.isPending || c.students.length === 0} onClick={() => run(a, scope, scopeLabel)} data-testid={`bulk-${a}`}>
            {BULK_LABEL[a]} {scopeLabel}
          </button>
        ))}
      </div>
      {outcome ? <BulkOutcome result={outcome} /> : null}
      <FormError error={bulk.error ?? provisionOne.error ?? removeVm.error ?? removeStudent.error} testId="roster-action-error" />
      <div className="table-wrap">
        <table className="table roster" data-testid="roster">
          <thead>
            <tr>
              <th className="col-check">
                <input
                  type="checkbox"
                  aria-label="Select every student"
                  checked={ids.length > 0 && selection.length === ids.length}
                  ref={(el) => {
                    if (el) el.indeterminate = selection.length > 0 && selection.length < ids.length;
                  }}
                  onChange={(e) => setSelected(e.target.checked ? new Set(ids) : new Set())}
                  data-testid="select-all"
                />
              </th>
              <th>Student</th>
              <th>VM</th>
              <th>Operation / last failure</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {c.students.length === 0 ? (
              <tr>
                <td colSpan={5} className="muted">
                  No students yet. Paste a roster below, or give students the join code.
                </td>
              </tr>
            ) : null}
            {c.students.map((s) => {
              const busy = isBusy(s);
              const failed = s.state === "error" || (!s.vmId && s.lastFailure !== null);
              return (
                <tr key={s.userId} data-testid="student-row" data-username={s.username} data-state={s.state ?? "none"} data-user-id={s.userId}>
                  <td className="col-check">
                    <input type="checkbox" aria-label={`Select ${s.username}`} checked={selected.has(s.userId)} onChange={(e) => toggle(s.userId, e.target.checked)} data-testid="student-select" />
                  </td>
                  <td>
                    <div className="strong">{s.displayName || s.username}</div>
                    {s.displayName ? <div className="muted small">{s.username}</div> : null}
                  </td>
                  <td>{s.state ? <StateBadge state={s.state} guestReadyAt={s.guestReady ? new Date(0) : null} /> : <span className="muted">no VM</span>}</td>
                  <td className="col-op">
                    <OperationCell s={s} />
                    {s.state === "error" && s.stateMessage && !s.lastFailure ? <p className="cell-error">{s.stateMessage}</p> : null}
                  </td>
                  <td>
                    <div className="row-actions">
                      {failed ? (
                        <button type="button" className="btn btn-sm btn-primary" disabled={busy || provisionOne.isPending || removeVm.isPending} onClick={() => retry(s)} data-testid="student-retry">
                          Retry
                        </button>
                      ) : null}
                      {s.vmId && s.state !== "error" ? (
                        <>
                          {s.state === "running" ? (
                            <button type="button" className="btn btn-sm" disabled={busy || bulk.isPending} onClick={() => run("stop", [s.userId], s.username)} data-testid="student-stop">
                              Stop
                            </button>
                          ) : (
                            <button type="button" className="btn btn-sm" disabled={busy || bulk.isPending || s.state !== "stopped"} onClick={() => run("start", [s.userId], s.username)} data-testid="student-start">
                              Start
                            </button>
                          )}
                          <button type="button" className="btn btn-sm" disabled={busy || bulk.isPending} onClick={() => run("reset", [s.userId], s.username)} data-testid="student-reset">
                            Reset
                          </button>
                          <button type="button" className="btn btn-sm" disabled={s.state !== "running"} onClick={() => onView(s)} data-testid="student-view">
                            View
                          </button>
                          {s.state === "running" ? (
                            <Link className="btn btn-sm" href={`/vms/${s.vmId}/console`} data-testid="student-control" title="Open the console in control mode (audited)">
                              Take control
                            </Link>
                          ) : null}
                        </>
                      ) : null}
                      {!s.vmId && !failed ? <span className="muted small">not provisioned</span> : null}
                      <button
                        type="button"
                        className="btn btn-sm btn-ghost"
                        title="Remove from the class (deletes their VM)"
                        disabled={busy || removeStudent.isPending}
                        onClick={() => {
                          if (window.confirm(`Remove ${s.username} from the class? Their VM is deleted.`)) removeStudent.mutate({ id: c.id, userId: s.userId });
                        }}
                        data-testid="student-remove"
                      >
                        ✕
                      </button>
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={confirm !== null}
        title={confirm ? `${BULK_LABEL[confirm.action]} ${confirm.who === "all" ? "every student VM" : confirm.who}?` : ""}
        message={confirm?.action === "delete" ? "The VMs and their disks are deleted; provisioning again gives fresh ones." : "Each disk is recreated from the lab template: students' work on it is lost (checkpoints too)."}
        confirmLabel={confirm ? BULK_LABEL[confirm.action] : ""}
        danger
        onConfirm={() => {
          if (confirm) bulk.mutate({ action: confirm.action, userIds: confirm.userIds });
          setConfirm(null);
        }}
        onCancel={() => setConfirm(null)}
      />
    </>
  );
}
