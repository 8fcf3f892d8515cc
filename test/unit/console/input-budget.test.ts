import { describe, expect, it } from "vitest";
import { FLOOD_CLOSE_MS, INPUT_BUDGET, InputBudget } from "../../../server/console/input-budget.ts";
import { CUT_TEXT_MAX } from "../../../server/console/rfb-filter.ts";

describe("console input budget", () => {
  it("lets a burst through, then asks the reader to wait until the debt is paid at the rate", () => {
    let t = 0;
    const b = new InputBudget({ bytesPerS: 1000, burst: 5000 }, () => t);
    expect(b.spend(5000)).toBe(0);
    expect(b.spend(500)).toBe(500); // 500 bytes in debt at 1000 B/s
    t += 500;
    expect(b.spend(0)).toBe(0);
    t += 60_000; // refills, but never past the burst
    expect(b.spend(5000)).toBe(0);
    expect(b.spend(1)).toBe(1);
  });

  it("fits a control client's largest clipboard in one burst; a view client only gets a trickle", () => {
    for (const kind of ["vnc", "serial"] as const) {
      expect(INPUT_BUDGET[kind].control.burst).toBeGreaterThan(CUT_TEXT_MAX + 64 * 1024);
      expect(INPUT_BUDGET[kind].view.bytesPerS).toBeLessThanOrEqual(INPUT_BUDGET[kind].control.bytesPerS / 8);
    }
  });

  it("a flood is held to burst + rate × time however it is chunked", () => {
    let t = 0;
    const rate = { bytesPerS: 16 * 1024, burst: 128 * 1024 };
    const b = new InputBudget(rate, () => t);
    let read = 0;
    // The reader reads one 64 KiB chunk, then waits as long as told, for 10 s.
    while (t < 10_000) {
      read += 65536;
      t += Math.max(1, b.spend(65536));
    }
    expect(read).toBeLessThanOrEqual(rate.burst + rate.bytesPerS * 10 + 65536);
  });

  it("says how long a client has been flooding; a client that goes quiet long enough is forgiven", () => {
    let t = 0;
    const b = new InputBudget({ bytesPerS: 1000, burst: 4000 }, () => t);
    expect(b.spend(4000)).toBe(0);
    expect(b.floodingMs()).toBe(0);
    // A flooder: every time reading resumes, another chunk is waiting.
    for (let i = 0; i < 12; i++) t += b.spend(1000);
    expect(b.floodingMs()).toBeGreaterThan(FLOOD_CLOSE_MS);
    // An honest client pastes twice, then types: in debt briefly, then forgiven once half refilled.
    const c = new InputBudget({ bytesPerS: 1000, burst: 4000 }, () => t);
    c.spend(4000);
    t += c.spend(1000);
    expect(c.floodingMs()).toBe(1000);
    t += 2000;
    c.spend(8);
    expect(c.floodingMs()).toBe(0);
  });
});
