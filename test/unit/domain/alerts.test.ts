import { describe, expect, it } from "vitest";
import { DEFAULT_THRESHOLDS, effectiveThresholds, evaluate, webhookBackoffMs, type Reading } from "../../../server/domain/alerts.ts";

const now = new Date("2026-12-06T12:00:00Z");
/** Readings every 10 s ending at `now`, oldest first. */
const series = (...values: Array<number | null>): Reading[] => values.map((value, i) => ({ at: new Date(now.getTime() - (values.length - 1 - i) * 10_000), value }));
const t = { abovePct: 80, windowS: 30 };

describe("threshold alerts", () => {
  it("fires only when every reading of the window is above the threshold", () => {
    expect(evaluate(series(10, 90, 91, 95), t, false, now, 10)).toBe("fire");
    expect(evaluate(series(90, 79, 95, 95), t, false, now, 10)).toBe("hold"); // one dip inside the window
    expect(evaluate(series(99, 85), t, false, now, 10)).toBe("hold"); // the window is not covered yet
    expect(evaluate(series(90, 90, 90, 90), t, true, now, 10)).toBe("hold"); // already open
  });

  it("clears only below the threshold minus the hysteresis, for a whole window", () => {
    expect(evaluate(series(90, 70, 70, 70), t, true, now, 10)).toBe("clear");
    expect(evaluate(series(90, 78, 77, 79), t, true, now, 10)).toBe("hold"); // under 80 but not under 75: no flapping
    expect(evaluate(series(70, 70, 81, 70), t, true, now, 10)).toBe("hold");
  });

  it("decides nothing from readings without the metric or none at all", () => {
    expect(evaluate(series(null, null, null, null), t, false, now, 10)).toBe("hold");
    expect(evaluate([], t, true, now, 10)).toBe("hold");
  });

  it("a host's overrides replace single fields of the global thresholds", () => {
    expect(effectiveThresholds(DEFAULT_THRESHOLDS, { cpu: { abovePct: 50 } })).toEqual({ ...DEFAULT_THRESHOLDS, cpu: { abovePct: 50, windowS: 60 } });
    expect(effectiveThresholds(DEFAULT_THRESHOLDS, null)).toEqual(DEFAULT_THRESHOLDS);
    expect(DEFAULT_THRESHOLDS).toMatchObject({ cpu: { abovePct: 80 }, memory: { abovePct: 85 }, disk: { abovePct: 90 } });
  });

  it("retries webhooks with doubling delays, at most 5 minutes", () => {
    expect([1, 2, 3, 4].map(webhookBackoffMs)).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(webhookBackoffMs(20)).toBe(300_000);
  });
});
