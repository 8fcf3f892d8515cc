/**
 * Threshold alerts (pure). A host's metric crosses its threshold when every reading of the last
 * `windowS` seconds is above it (sustained, not one spike), and clears only when every reading of a
 * window is below the threshold minus `hysteresisPct` (so a value hovering at the line does not
 * flap). Fewer readings than the window needs (a new host, a gap) decide nothing.
 */

export const ALERT_METRICS = ["cpu", "memory", "disk"] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export interface Threshold {
  /** Percent (0–100) above which the metric is alarming. */
  abovePct: number;
  /** The condition must hold for this long (seconds). */
  windowS: number;
}

export type Thresholds = Record<AlertMetric, Threshold>;

/** The seed article's numbers: CPU > 80 %, memory > 85 %, disk > 90 %, each for a minute. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  cpu: { abovePct: 80, windowS: 60 },
  memory: { abovePct: 85, windowS: 60 },
  disk: { abovePct: 90, windowS: 60 },
};

/** How far below the threshold a metric must fall to clear. */
export const HYSTERESIS_PCT = 5;

export interface Reading {
  at: Date;
  /** Percent, 0–100; null when this reading does not have the metric (e.g. no disk figure). */
  value: number | null;
}

export type Verdict = "fire" | "clear" | "hold";

/**
 * What the readings say about an alert that is currently `open` or not. `now` bounds the window.
 * The readings must cover the whole window: the oldest used reading is at most one reading interval
 * after the window's start (`intervalS`), or the verdict is "hold".
 */
export function evaluate(readings: Reading[], t: Threshold, open: boolean, now: Date, intervalS: number): Verdict {
  const from = now.getTime() - t.windowS * 1000;
  const inWindow = readings.filter((r) => r.at.getTime() > from && r.at.getTime() <= now.getTime() && r.value !== null);
  if (inWindow.length === 0) return "hold";
  const oldest = Math.min(...inWindow.map((r) => r.at.getTime()));
  if (oldest - from > intervalS * 1000 * 1.5) return "hold"; // the window is not covered yet
  const values = inWindow.map((r) => r.value as number);
  if (!open && values.every((v) => v > t.abovePct)) return "fire";
  if (open && values.every((v) => v < t.abovePct - HYSTERESIS_PCT)) return "clear";
  return "hold";
}

/** Per-host overrides over the global thresholds (each metric and field may be overridden alone). */
export function effectiveThresholds(global: Thresholds, host: Partial<Record<AlertMetric, Partial<Threshold>>> | null | undefined): Thresholds {
  const out = { ...global };
  for (const m of ALERT_METRICS) out[m] = { ...global[m], ...(host?.[m] ?? {}) };
  return out;
}

/** Webhook signature: hex HMAC-SHA256 of the body, sent as `X-Vmdesk-Signature: sha256=<hex>`. */
export const SIGNATURE_HEADER = "x-vmdesk-signature";

/** Delay before webhook attempt `n` (1-based) is retried: 2, 4, 8 … s, at most 5 minutes. */
export function webhookBackoffMs(attempt: number): number {
  return Math.min(300_000, 2_000 * 2 ** Math.max(0, attempt - 1));
}
export const WEBHOOK_MAX_ATTEMPTS = 10;
