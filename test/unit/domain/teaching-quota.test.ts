import { describe, expect, it } from "vitest";
import { amountsDelta, applyLedgerDelta, budgetBelowUsage, describeLedgerExcess, diffTeachingUsage, ZERO_AMOUNTS } from "../../../server/domain/quota.ts";

const a = (vms: number, vcpus: number, memoryMiB: number, diskGiB: number) => ({ vms, vcpus, memoryMiB, diskGiB });

describe("teaching ledger arithmetic", () => {
  it("a budget change is the per-resource difference; a release is negative", () => {
    expect(amountsDelta(a(2, 2, 192, 2), a(5, 1, 192, 4))).toEqual(a(3, -1, 0, 2));
    expect(amountsDelta(a(2, 2, 192, 2), ZERO_AMOUNTS)).toEqual(a(-2, -2, -192, -2));
  });

  it("growth within the grant is recorded", () => {
    expect(applyLedgerDelta(a(10, 10, 1000, 10), a(4, 4, 400, 4), a(6, 6, 600, 6))).toEqual({ excesses: [], usedAfter: a(10, 10, 1000, 10) });
  });

  it("growth beyond the grant names the limit, the usage and the request", () => {
    const { excesses } = applyLedgerDelta(a(10, 10, 1000, 10), a(6, 0, 0, 0), a(5, 1, 1, 1));
    expect(excesses).toEqual([{ resource: "vms", limit: 10, used: 6, requested: 5 }]);
    expect(describeLedgerExcess("teaching quota", excesses[0]!)).toBe("teaching quota exceeded: VM count limit 10, in use 6, requested 5 (4 left)");
  });

  it("no grant (limits 0) refuses any growth but not an empty budget", () => {
    expect(applyLedgerDelta(ZERO_AMOUNTS, ZERO_AMOUNTS, a(1, 0, 0, 0)).excesses).toHaveLength(1);
    expect(applyLedgerDelta(ZERO_AMOUNTS, ZERO_AMOUNTS, ZERO_AMOUNTS).excesses).toEqual([]);
  });

  it("only growing resources are checked: shrinking one that is over the limit is always allowed", () => {
    // Over on memory after the admin lowered the grant; raising VMs within the limit while lowering memory.
    const r = applyLedgerDelta(a(10, 10, 500, 10), a(2, 2, 900, 2), a(1, 0, -300, 0));
    expect(r.excesses).toEqual([]);
    expect(r.usedAfter).toEqual(a(3, 2, 600, 2));
    // Growing memory while over is refused.
    expect(applyLedgerDelta(a(10, 10, 500, 10), a(2, 2, 900, 2), a(0, 0, 1, 0)).excesses.map((e) => e.resource)).toEqual(["memoryMiB"]);
  });

  it("a release never takes usage below zero", () => {
    expect(applyLedgerDelta(a(10, 10, 10, 10), a(1, 1, 1, 1), a(-5, -5, -5, -5)).usedAfter).toEqual(ZERO_AMOUNTS);
  });

  it("admins are unbounded but still recorded", () => {
    expect(applyLedgerDelta(ZERO_AMOUNTS, a(1, 1, 1, 1), a(100, 100, 100, 100), true)).toEqual({ excesses: [], usedAfter: a(101, 101, 101, 101) });
  });

  it("a class budget cannot shrink below what its VMs use", () => {
    expect(budgetBelowUsage(a(3, 3, 300, 3), a(3, 2, 288, 3))).toEqual([]);
    expect(budgetBelowUsage(a(2, 3, 200, 3), a(3, 3, 288, 3))).toEqual(["vms", "memoryMiB"]);
  });

  it("the reconciler sums each owner's live budgets and reports only owners that drifted", () => {
    const drift = diffTeachingUsage(
      [
        { userId: "t1", used: a(5, 5, 500, 5) },
        { userId: "t2", used: a(9, 9, 9, 9) },
        { userId: "t3", used: ZERO_AMOUNTS },
      ],
      [
        { ownerId: "t1", budget: a(2, 2, 200, 2) },
        { ownerId: "t1", budget: a(3, 3, 300, 3) },
        { ownerId: "t2", budget: a(1, 1, 1, 1) },
      ],
    );
    expect(drift).toEqual([{ userId: "t2", recorded: a(9, 9, 9, 9), actual: a(1, 1, 1, 1) }]);
  });
});
