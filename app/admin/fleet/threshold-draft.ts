/**
 * The per-host thresholds form as text fields (pure: unit-tested). An empty field is no override:
 * the host falls back to the global value. PATCH /hosts/{id} replaces the whole `alertThresholds`
 * object, so the form always sends every override it keeps.
 */

export const THRESHOLD_METRICS = [
  { key: "cpu", label: "CPU" },
  { key: "memory", label: "Memory" },
  { key: "disk", label: "Storage pool" },
] as const;

export type ThresholdMetric = (typeof THRESHOLD_METRICS)[number]["key"];
export type ThresholdField = "abovePct" | "windowS";
export type Overrides = Partial<Record<ThresholdMetric, { abovePct?: number; windowS?: number }>>;
export type ThresholdDraft = Record<ThresholdMetric, Record<ThresholdField, string>>;
/** Messages by `${metric}.${field}`, e.g. "cpu.abovePct". */
export type DraftErrors = Partial<Record<`${ThresholdMetric}.${ThresholdField}`, string>>;

/** The same bounds as the API's (server/api/schemas.ts, alertThresholds). */
const BOUNDS: Record<ThresholdField, { min: number; max: number; integer: boolean; unit: string }> = {
  abovePct: { min: 1, max: 100, integer: false, unit: "%" },
  windowS: { min: 1, max: 86_400, integer: true, unit: "s" },
};

export function draftFrom(overrides: Overrides): ThresholdDraft {
  const field = (v: number | undefined) => (v === undefined ? "" : String(v));
  const out = {} as ThresholdDraft;
  for (const { key } of THRESHOLD_METRICS) out[key] = { abovePct: field(overrides[key]?.abovePct), windowS: field(overrides[key]?.windowS) };
  return out;
}

/** The overrides a draft stands for, or what is wrong with each field that is not a valid value. */
export function parseDraft(draft: ThresholdDraft): { overrides: Overrides; errors: DraftErrors } {
  const overrides: Overrides = {};
  const errors: DraftErrors = {};
  for (const { key } of THRESHOLD_METRICS) {
    const kept: { abovePct?: number; windowS?: number } = {};
    for (const f of ["abovePct", "windowS"] as const) {
      const text = draft[key][f].trim();
      if (text === "") continue;
      const b = BOUNDS[f];
      const n = Number(text);
      if (!Number.isFinite(n)) errors[`${key}.${f}`] = "must be a number";
      else if (b.integer && !Number.isInteger(n)) errors[`${key}.${f}`] = "must be a whole number";
      else if (n < b.min || n > b.max) errors[`${key}.${f}`] = `must be ${b.min}–${b.max} ${b.unit}`;
      else kept[f] = n;
    }
    if (Object.keys(kept).length > 0) overrides[key] = kept;
  }
  return { overrides, errors };
}
