"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { StatusPill } from "../../_components/state-badge";
import { FormError, Loading } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";

const METRICS = [
  { key: "cpu", label: "CPU" },
  { key: "memory", label: "Memory" },
  { key: "disk", label: "Storage pool" },
] as const;

function Thresholds() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const current = useQuery(trpc.alert.thresholds.queryOptions());
  const [draft, setDraft] = useState<Record<string, { abovePct: string; windowS: string }>>({});
  const save = useMutation(trpc.alert.setThresholds.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.alert.thresholds.queryKey() }) }));
  if (!current.data) return current.error ? <FormError error={current.error} /> : <Loading what="thresholds" />;
  const value = (m: (typeof METRICS)[number]["key"], f: "abovePct" | "windowS") => draft[m]?.[f] ?? String(current.data[m][f]);
  const set = (m: string, f: "abovePct" | "windowS", v: string) =>
    setDraft((d) => ({ ...d, [m]: { abovePct: d[m]?.abovePct ?? String(current.data![m as "cpu"].abovePct), windowS: d[m]?.windowS ?? String(current.data![m as "cpu"].windowS), [f]: v } }));
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const input: Record<string, { abovePct: number; windowS: number }> = {};
    for (const m of METRICS) input[m.key] = { abovePct: Number(value(m.key, "abovePct")), windowS: Number(value(m.key, "windowS")) };
    save.mutate(input);
  }
  return (
    <form className="inline-form" onSubmit={onSubmit} data-testid="alert-thresholds">
      {METRICS.map((m) => (
        <fieldset key={m.key} className="field">
          <legend>{m.label}</legend>
          above <input type="number" min={1} max={100} value={value(m.key, "abovePct")} onChange={(e) => set(m.key, "abovePct", e.target.value)} data-testid={`threshold-${m.key}-pct`} /> % for{" "}
          <input type="number" min={1} max={86400} value={value(m.key, "windowS")} onChange={(e) => set(m.key, "windowS", e.target.value)} data-testid={`threshold-${m.key}-window`} /> s
        </fieldset>
      ))}
      <button type="submit" className="btn btn-primary" disabled={save.isPending}>
        Save thresholds
      </button>
      <FormError error={save.error} />
    </form>
  );
}

export function AlertsAdmin() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const alerts = useQuery({ ...trpc.alert.list.queryOptions({ state: "all", limit: 200 }), refetchInterval: 10_000 });
  const ack = useMutation(trpc.alert.ack.mutationOptions({ onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.alert.list.queryKey() }) }));
  return (
    <div className="stack">
      <h1>Alerts</h1>
      <section className="card" aria-labelledby="thresholds-title">
        <h2 id="thresholds-title" className="card-title">
          Thresholds (every host; a host may override them)
        </h2>
        <Thresholds />
      </section>
      <section className="card" aria-labelledby="alerts-title">
        <h2 id="alerts-title" className="card-title">
          Firing and history
        </h2>
        {alerts.error ? <FormError error={alerts.error} /> : null}
        {!alerts.data ? (
          <Loading what="alerts" />
        ) : alerts.data.length === 0 ? (
          <p className="muted" data-testid="alerts-empty">
            No alerts.
          </p>
        ) : (
          <table className="table" data-testid="alerts-table">
            <thead>
              <tr>
                <th>State</th>
                <th>Alert</th>
                <th>Fired</th>
                <th>Resolved</th>
                <th>Acknowledged</th>
              </tr>
            </thead>
            <tbody>
              {alerts.data.map((a) => (
                <tr key={a.id} data-testid="alert-row" data-kind={a.kind} data-state={a.state}>
                  <td>
                    <StatusPill status={a.state} />
                  </td>
                  <td>
                    <strong>{a.kind}</strong> · {a.subject}
                    <div>{a.message}</div>
                  </td>
                  <td className="nowrap">{formatDateTime(a.firedAt)}</td>
                  <td className="nowrap">{a.resolvedAt ? formatDateTime(a.resolvedAt) : "—"}</td>
                  <td>
                    {a.ackedAt ? (
                      formatDateTime(a.ackedAt)
                    ) : (
                      <button type="button" className="btn btn-sm" disabled={ack.isPending} onClick={() => ack.mutate({ id: a.id })} data-testid="alert-ack">
                        Acknowledge
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
