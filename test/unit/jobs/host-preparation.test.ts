import { describe, expect, it } from "vitest";
import { HostPreparations } from "../../../server/jobs/host-preparation.ts";

function counter() {
  let calls = 0;
  let release: (() => void) | null = null;
  return {
    get calls() {
      return calls;
    },
    /** A preparation that stays in flight until `finish()`. */
    slow: () => {
      calls++;
      return new Promise<string>((resolve) => (release = () => resolve(`done ${calls}`)));
    },
    fast: async () => `done ${++calls}`,
    failing: async () => {
      calls++;
      throw new Error("pool missing");
    },
    finish: () => release?.(),
  };
}

describe("HostPreparations", () => {
  it("runs a preparation once for every caller while it is in flight", async () => {
    const prep = new HostPreparations(15_000, () => 0);
    const conn = {};
    const c = counter();
    const waiting = Array.from({ length: 30 }, () => prep.ensure(conn, "pool p /x", c.slow));
    c.finish();
    expect(await Promise.all(waiting)).toEqual(Array(30).fill("done 1"));
    expect(c.calls).toBe(1);
  });

  it("takes a success as done for freshMs, then asks the host again", async () => {
    let now = 1_000;
    const prep = new HostPreparations(15_000, () => now);
    const conn = {};
    const c = counter();
    await prep.ensure(conn, "k", c.fast);
    now += 14_999;
    await prep.ensure(conn, "k", c.fast);
    expect(c.calls).toBe(1);
    now += 1;
    expect(await prep.ensure(conn, "k", c.fast)).toBe("done 2");
  });

  it("does not remember a failure: the next caller tries again", async () => {
    const prep = new HostPreparations(15_000, () => 0);
    const conn = {};
    const c = counter();
    await expect(prep.ensure(conn, "k", c.failing)).rejects.toThrow("pool missing");
    await expect(prep.ensure(conn, "k", c.failing)).rejects.toThrow("pool missing");
    expect(c.calls).toBe(2);
  });

  it("keeps keys and host connections apart, and forgets one connection's preparations on demand", async () => {
    const prep = new HostPreparations(15_000, () => 0);
    const a = {};
    const b = {};
    const c = counter();
    await prep.ensure(a, "pool", c.fast);
    await prep.ensure(a, "network", c.fast);
    await prep.ensure(b, "pool", c.fast);
    expect(c.calls).toBe(3);
    prep.forget(a);
    await prep.ensure(a, "pool", c.fast);
    await prep.ensure(b, "pool", c.fast);
    expect(c.calls).toBe(4);
  });

  it("keeps no expired preparations: a host that has seen 1 000 class networks holds only the fresh ones", async () => {
    let now = 0;
    const prep = new HostPreparations(15_000, () => now);
    const conn = {};
    const c = counter();
    for (let i = 0; i < 1_000; i++) await prep.ensure(conn, `network vmdesk-class-${i}`, c.fast);
    now += 15_000;
    await prep.ensure(conn, "network vmdesk-class-new", c.fast);
    expect(prep.kept(conn)).toBe(1);
  });
});
