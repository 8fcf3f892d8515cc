"use client";

import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { formatDateTime } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { FormError } from "../ui";
import type { ClassDetail } from "./use-class";

/** Scheduled sessions: VMs start `preStartMinutes` before each and are shut down at its end. */
export function Sessions({ c, onChanged }: { c: ClassDetail; onChanged: () => void }) {
  const trpc = useTRPC();
  const [startsAt, setStartsAt] = useState("");
  const [endsAt, setEndsAt] = useState("");
  const add = useMutation(
    trpc.class.addSession.mutationOptions({
      onSuccess: () => {
        setStartsAt("");
        setEndsAt("");
        onChanged();
      },
    }),
  );
  const remove = useMutation(trpc.class.deleteSession.mutationOptions({ onSuccess: onChanged }));
  const invalid = !startsAt || !endsAt || new Date(endsAt) <= new Date(startsAt);

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!invalid) add.mutate({ id: c.id, startsAt: new Date(startsAt), endsAt: new Date(endsAt) });
  }

  return (
    <section className="card" aria-labelledby="sessions-title">
      <h2 id="sessions-title" className="card-title">
        Sessions
      </h2>
      <p className="hint">VMs start {c.preStartMinutes} min before a session and shut down at its end.</p>
      <form className="inline-form" onSubmit={submit}>
        <label className="field">
          <span>Starts</span>
          <input type="datetime-local" value={startsAt} onChange={(e) => setStartsAt(e.target.value)} data-testid="session-start" />
        </label>
        <label className="field">
          <span>Ends</span>
          <input type="datetime-local" value={endsAt} onChange={(e) => setEndsAt(e.target.value)} data-testid="session-end" />
        </label>
        <button type="submit" className="btn" disabled={invalid || add.isPending} data-testid="session-add">
          Add session
        </button>
      </form>
      <FormError error={add.error ?? remove.error} testId="session-error" />
      {c.sessions.length === 0 ? (
        <p className="muted">No sessions scheduled.</p>
      ) : (
        <ul className="session-list" data-testid="session-list">
          {c.sessions.map((s) => (
            <li key={s.id} data-testid="session-row">
              <span>
                {formatDateTime(s.startsAt)} → {formatDateTime(s.endsAt)}
              </span>
              {s.endedAt ? <span className="pill pill-grey">ended</span> : s.startedAt ? <span className="pill pill-green">started</span> : <span className="pill pill-blue">scheduled</span>}
              <button type="button" className="btn btn-sm btn-ghost" aria-label="Remove session" disabled={remove.isPending} onClick={() => remove.mutate({ id: c.id, sessionId: s.id })}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
