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

  it("serves waiting groups round-robin: another user's call is not queued behind one user's burst", async () => {
    const slots = new HostSlots(2);
    const order: string[] = [];
    const call = (name: string) => async () => {
      order.push(name);
      await new Promise((r) => setTimeout(r, 2));
    };
    // A teacher's ten reverts arrive first, then a tenant's start and the portal's HA restart.
    const burst = Array.from({ length: 10 }, (_, i) => slots.run("a", call(`teacher-${i}`), "teacher"));
    const tenant = slots.run("a", call("tenant"), "tenant");
    const portal = slots.run("a", call("portal"), "portal");
    await Promise.all([...burst, tenant, portal]);
    // Two teacher calls took the free slots; the next turns go teacher, tenant, portal, teacher, ...
    expect(order.indexOf("tenant")).toBe(3);
    expect(order.indexOf("portal")).toBe(4);
    expect(order.filter((n) => n.startsWith("teacher"))).toEqual(Array.from({ length: 10 }, (_, i) => `teacher-${i}`));
    expect(slots.running("a")).toBe(0);
  });
});
