"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { FormError } from "../../_components/ui";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";
import { draftFrom, parseDraft, THRESHOLD_METRICS, type DraftErrors, type ThresholdDraft, type ThresholdField, type ThresholdMetric } from "./threshold-draft";

type Fleet = RouterOutputs["host"]["fleetOverview"];
type FleetHost = Fleet["hosts"][number];

/**
 * A host's alert threshold overrides: an empty field falls back to the global value (shown as the
 * placeholder); the effective value is what the alert evaluator uses now.
 */
export function HostThresholds({ host, global }: { host: FleetHost; global: Fleet["global"] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // null: show the saved overrides (they follow the polls); a draft once the admin types.
  const [draft, setDraft] = useState<ThresholdDraft | null>(null);
  const [errors, setErrors] = useState<DraftErrors>({});
  const save = useMutation(
    trpc.host.update.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.host.fleetOverview.queryKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.host.list.queryKey() });
        setDraft(null);
      },
    }),
  );
  const shown = draft ?? draftFrom(host.overrides);
  const name = host.name;

  function set(metric: ThresholdMetric, field: ThresholdField, value: string) {
    setDraft({ ...shown, [metric]: { ...shown[metric], [field]: value } });
    setErrors((e) => ({ ...e, [`${metric}.${field}`]: undefined }));
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const parsed = parseDraft(shown);
    setErrors(parsed.errors);
    if (Object.keys(parsed.errors).length > 0) return;
    save.mutate({ id: host.id, alertThresholds: parsed.overrides });
  }

  return (
    <form onSubmit={onSubmit} noValidate data-testid={`host-thresholds-${name}`}>
      <table className="threshold-table">
        <thead>
          <tr>
            <th>Metric</th>
            <th>Above %</th>
            <th>For s</th>
            <th>Effective</th>
          </tr>
        </thead>
        <tbody>
          {THRESHOLD_METRICS.map(({ key, label }) => {
            const own = host.overrides[key];
            const overridden = own?.abovePct !== undefined || own?.windowS !== undefined;
            return (
              <tr key={key} data-testid={`host-threshold-${key}`} data-overridden={overridden}>
                <th scope="row">{label}</th>
                {(["abovePct", "windowS"] as const).map((f) => {
                  const error = errors[`${key}.${f}`];
                  const id = `threshold-${host.id}-${key}-${f}`;
                  return (
                    <td key={f}>
                      <input
                        id={id}
                        type="number"
                        inputMode="decimal"
                        value={shown[key][f]}
                        placeholder={String(global[key][f])}
                        onChange={(e) => set(key, f, e.target.value)}
                        aria-label={`${label} ${f === "abovePct" ? "above %" : "window s"} for ${name} (empty: global ${global[key][f]})`}
                        aria-invalid={error ? true : undefined}
                        aria-describedby={error ? `${id}-error` : undefined}
                        data-testid={`host-threshold-${key}-${f === "abovePct" ? "pct" : "window"}`}
                      />
                      {error ? (
                        <div className="field-error" id={`${id}-error`} role="alert" data-testid="field-error">
                          {error}
                        </div>
                      ) : null}
                    </td>
                  );
                })}
                <td>
                  <div className="nowrap" data-testid={`host-threshold-${key}-effective`} data-pct={host.thresholds[key].abovePct} data-window={host.thresholds[key].windowS}>
                    &gt; {host.thresholds[key].abovePct} % for {host.thresholds[key].windowS} s <span className="muted">({overridden ? "this host" : "global"})</span>
                  </div>
                  <button
                    type="button"
                    className="btn btn-sm"
                    disabled={shown[key].abovePct === "" && shown[key].windowS === ""}
                    onClick={() => {
                      setDraft({ ...shown, [key]: { abovePct: "", windowS: "" } });
                      setErrors((e) => ({ ...e, [`${key}.abovePct`]: undefined, [`${key}.windowS`]: undefined }));
                    }}
                    title="Clear this host's override: the global threshold applies"
                    data-testid={`host-threshold-${key}-clear`}
                  >
                    Use global
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="threshold-actions">
        <button type="submit" className="btn btn-primary btn-sm" disabled={save.isPending} data-testid="host-thresholds-save">
          {save.isPending ? "Saving…" : "Save thresholds"}
        </button>
        {draft ? (
          <button
            type="button"
            className="btn btn-sm"
            onClick={() => {
              setDraft(null);
              setErrors({});
              save.reset();
            }}
          >
            Undo changes
          </button>
        ) : null}
        <span className="muted">empty: the global value (Alerts page)</span>
      </div>
      <FormError error={save.error} />
    </form>
  );
}
