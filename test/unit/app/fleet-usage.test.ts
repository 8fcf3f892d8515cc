import { describe, expect, it } from "vitest";
import { usagePct, usageTone, WARN_MARGIN_PCT } from "../../../app/_components/fleet/usage.ts";

describe("usage bars", () => {
  it("percent of total, clamped, unknown without a positive total", () => {
    expect(usagePct(512, 2048)).toBe(25);
    expect(usagePct(0, 10)).toBe(0);
    expect(usagePct(12, 10)).toBe(100);
    expect(usagePct(-1, 10)).toBe(0);
    expect(usagePct(5, 0)).toBeNull();
    expect(usagePct(null, 10)).toBeNull();
    expect(usagePct(5, null)).toBeNull();
    expect(usagePct(5, undefined)).toBeNull();
  });

  it("danger above the threshold (as the alert counts), warn in the band below it, ok under", () => {
    expect(WARN_MARGIN_PCT).toBe(10);
    expect(usageTone(80.1, 80)).toBe("danger");
    expect(usageTone(100, 80)).toBe("danger");
    expect(usageTone(80, 80)).toBe("warn");
    expect(usageTone(70, 80)).toBe("warn");
    expect(usageTone(69.9, 80)).toBe("ok");
    expect(usageTone(0, 80)).toBe("ok");
  });

  it("the warning band is at most half the threshold deep (a low threshold is not always amber)", () => {
    expect(usageTone(4.9, 10)).toBe("ok");
    expect(usageTone(5, 10)).toBe("warn");
    expect(usageTone(10.5, 10)).toBe("danger");
    expect(usageTone(0, 1)).toBe("ok");
    expect(usageTone(1.5, 1)).toBe("danger");
  });

  it("no value: unknown, whatever the threshold", () => {
    expect(usageTone(null, 80)).toBe("unknown");
    expect(usageTone(undefined, 80)).toBe("unknown");
    expect(usageTone(Number.NaN, 80)).toBe("unknown");
  });
});
