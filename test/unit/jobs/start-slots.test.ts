import { describe, expect, it } from "vitest";
import { HostSlots } from "../../../server/jobs/start-slots.ts";

describe("HostSlots", () => {
  it("runs at most perHost calls per host at once, hosts independently, and frees a slot on failure", async () => {
    const slots = new HostSlots(2);
    let peak = 0;
    let now = 0;
    const job = (fail = false) => async () => {
      now++;
      peak = Math.max(peak, now);
      await new Promise((r) => setTimeout(r, 5));
      now--;
      if (fail) throw new Error("boom");
      return 1;
    };
    const results = await Promise.allSettled([...Array.from({ length: 6 }, (_, i) => slots.run("a", job(i === 1))), slots.run("b", job())]);
    expect(peak).toBe(3); // two on host a, one on host b
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    expect(slots.running("a")).toBe(0);
    expect(slots.running("b")).toBe(0);
  });
});
