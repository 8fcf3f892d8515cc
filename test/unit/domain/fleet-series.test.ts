import { describe, expect, it } from "vitest";
import { diskUsedPct, FLEET_SERIES_POINTS, layOutSeries, seriesWindow } from "../../../server/domain/fleet-series.ts";

describe("fleet overview series", () => {
  it("an hour in at most 120 buckets, never finer than the collection interval, the last one holding now", () => {
    const now = new Date("2026-12-06T12:34:56.789Z");
    for (const intervalMs of [1_000, 2_000, 10_000, 30_000, 45_000, 60_000, 120_000, 299_000]) {
      const w = seriesWindow(now, intervalMs);
      expect(w.points).toBeLessThanOrEqual(FLEET_SERIES_POINTS);
      expect(w.step).toBeGreaterThanOrEqual(intervalMs / 1000);
      expect(w.from.getTime() % (w.step * 1000)).toBe(0);
      const lastStart = w.from.getTime() + (w.points - 1) * w.step * 1000;
      expect(lastStart).toBeLessThanOrEqual(now.getTime());
      expect(lastStart + w.step * 1000).toBeGreaterThan(now.getTime());
      // Covers the hour to within one bucket.
      expect(now.getTime() - w.from.getTime()).toBeGreaterThan(3_600_000 - 2 * w.step * 1000);
    }
    expect(seriesWindow(now, 10_000)).toEqual({ from: new Date("2026-12-06T11:35:00.000Z"), step: 30, points: 120 });
    expect(seriesWindow(now, 60_000)).toMatchObject({ step: 60, points: 60 });
  });

  it("lays bucket rows out per host and metric, null where a bucket is empty, ignoring strays", () => {
    const hosts = [
      { id: "a", diskTotalGiB: 200 },
      { id: "b", diskTotalGiB: null },
    ];
    const rows = [
      { hostId: "a", i: 0, cpuPct: 12.345, memoryPct: 50, diskFreeGiB: 150 },
      { hostId: "a", i: 3, cpuPct: 99.99, memoryPct: null, diskFreeGiB: null },
      { hostId: "b", i: 1, cpuPct: 5, memoryPct: 33.333, diskFreeGiB: 10 },
      { hostId: "a", i: 4, cpuPct: 1, memoryPct: 1, diskFreeGiB: 1 },
      { hostId: "a", i: -1, cpuPct: 1, memoryPct: 1, diskFreeGiB: 1 },
      { hostId: "gone", i: 0, cpuPct: 1, memoryPct: 1, diskFreeGiB: 1 },
    ];
    const s = layOutSeries(rows, hosts, 4);
    expect([...s.keys()]).toEqual(["a", "b"]);
    expect(s.get("a")).toEqual({ cpuPct: [12.3, null, null, 100], memoryPct: [50, null, null, null], diskPct: [25, null, null, null] });
    expect(s.get("b")).toEqual({ cpuPct: [null, 5, null, null], memoryPct: [null, 33.3, null, null], diskPct: [null, null, null, null] });
  });

  it("storage use as the disk alert counts it; unknown without both figures", () => {
    expect(diskUsedPct(25, 100)).toBe(75);
    expect(diskUsedPct(0, 100)).toBe(100);
    expect(diskUsedPct(120, 100)).toBe(0);
    expect(diskUsedPct(null, 100)).toBeNull();
    expect(diskUsedPct(10, null)).toBeNull();
    expect(diskUsedPct(10, 0)).toBeNull();
  });
});
