/** How full a resource is and how alarming that is, for usage bars (pure: unit-tested). */

export type UsageTone = "ok" | "warn" | "danger" | "unknown";

/** The warning band reaches this many points below the threshold (at most half-way down to 0). */
export const WARN_MARGIN_PCT = 10;

/** `used` of `total` in percent, clamped to 0–100; null when either is unknown or total is not positive. */
export function usagePct(used: number | null | undefined, total: number | null | undefined): number | null {
  if (used === null || used === undefined || total === null || total === undefined || !(total > 0)) return null;
  return Math.min(100, Math.max(0, (100 * used) / total));
}

/**
 * A value's tone against its alert threshold: danger above it (what the alert counts), warn from
 * WARN_MARGIN_PCT points below it (or half the threshold, whichever is higher), ok under that.
 */
export function usageTone(pct: number | null | undefined, thresholdPct: number): UsageTone {
  if (pct === null || pct === undefined || Number.isNaN(pct)) return "unknown";
  if (pct > thresholdPct) return "danger";
  if (pct >= Math.max(thresholdPct / 2, thresholdPct - WARN_MARGIN_PCT)) return "warn";
  return "ok";
}
