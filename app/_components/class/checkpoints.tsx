"use client";

import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { formatDateTime } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { FormError } from "../ui";
import type { BulkResult, ClassDetail } from "./use-class";

function Outcome({ what, res }: { what: string; res: BulkResult }) {
  return (
    <p className={res.skipped.length ? "notice notice-warn" : "notice notice-success"} data-testid="checkpoint-result">
      {what}: {res.queued.length} VM{res.queued.length === 1 ? "" : "s"} queued
      {res.skipped.length ? `; skipped ${res.skipped.map((s) => `${s.username} (${s.reason})`).join(", ")}` : ""}.
    </p>
  );
}

/** Named class checkpoints (a snapshot of every student VM) and reverting all or one student to one. */
export function Checkpoints({ c, onChanged }: { c: ClassDetail; onChanged: () => void }) {
  const trpc = useTRPC();
  const [name, setName] = useState("");
  const [one, setOne] = useState<Record<string, string>>({});
  const [outcome, setOutcome] = useState<{ what: string; res: BulkResult } | null>(null);
  const create = useMutation(
    trpc.class.createCheckpoint.mutationOptions({
      onSuccess: (res) => {
        setName("");
        setOutcome({ what: `Checkpoint “${res.name}”`, res });
        onChanged();
      },
    }),
  );
  const revert = useMutation(
    trpc.class.revertCheckpoint.mutationOptions({
      onSuccess: (res, input) => {
        const cp = c.checkpoints.find((x) => x.id === input.checkpointId);
        setOutcome({ what: `Revert to “${cp?.name ?? "checkpoint"}”`, res });
        onChanged();
      },
    }),
  );
  const withVm = c.students.filter((s) => s.vmId);

  function submit(e: FormEvent) {
    e.preventDefault();
    if (name.trim()) create.mutate({ id: c.id, name: name.trim() });
  }

  return (
    <section className="card" aria-labelledby="checkpoints-title">
      <h2 id="checkpoints-title" className="card-title">
        Checkpoints
      </h2>
      <form className="inline-form" onSubmit={submit}>
        <label className="field grow">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={100} placeholder="after lab 2" data-testid="checkpoint-name" />
        </label>
        <button type="submit" className="btn btn-primary" disabled={!name.trim() || create.isPending || withVm.length === 0} data-testid="checkpoint-create">
          Take checkpoint
        </button>
      </form>
      <FormError error={create.error ?? revert.error} testId="checkpoint-error" />
      {outcome ? <Outcome {...outcome} /> : null}
      {c.checkpoints.length === 0 ? (
        <p className="muted">No checkpoints yet: one snapshots every student VM under a name.</p>
      ) : (
        <table className="table table-compact" data-testid="checkpoint-list">
          <thead>
            <tr>
              <th>Checkpoint</th>
              <th>Taken</th>
              <th>Revert</th>
            </tr>
          </thead>
          <tbody>
            {c.checkpoints.map((cp) => (
              <tr key={cp.id} data-testid="checkpoint-row" data-name={cp.name}>
                <td>
                  {cp.name} {cp.kind !== "checkpoint" ? <span className="pill pill-amber">{cp.kind}</span> : null}
                </td>
                <td className="nowrap muted">{formatDateTime(cp.createdAt)}</td>
                <td>
                  <div className="row-actions">
                    <button
                      type="button"
                      className="btn btn-sm"
                      disabled={revert.isPending}
                      onClick={() => {
                        if (window.confirm(`Revert every student VM to “${cp.name}”? Changes since then are lost.`)) revert.mutate({ id: c.id, checkpointId: cp.id });
                      }}
                      data-testid="checkpoint-revert-all"
                    >
                      Revert all
                    </button>
                    <select aria-label="Student to revert" value={one[cp.id] ?? ""} onChange={(e) => setOne((o) => ({ ...o, [cp.id]: e.target.value }))} data-testid="checkpoint-revert-student">
                      <option value="">one student…</option>
                      {withVm.map((s) => (
                        <option key={s.userId} value={s.userId}>
                          {s.username}
                        </option>
                      ))}
                    </select>
                    <button type="button" className="btn btn-sm" disabled={!one[cp.id] || revert.isPending} onClick={() => revert.mutate({ id: c.id, checkpointId: cp.id, userIds: [one[cp.id]!] })} data-testid="checkpoint-revert-one">
                      Revert
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
