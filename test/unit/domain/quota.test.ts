import { describe, expect, it } from "vitest";
import {
  addAmounts,
  describeExcess,
  quotaExcesses,
  QUOTA_RESOURCES,
  sameAmounts,
  subtractAmounts,
  sumCosts,
  vmCost,
  type ResourceAmounts,
} from "../../../server/domain/quota.ts";

const amounts = (vms: number, vcpus: number, memoryMiB: number, diskGiB: number): ResourceAmounts => ({ vms, vcpus, memoryMiB, diskGiB });
const ZERO = amounts(0, 0, 0, 0);
const LIMITS = amounts(3, 4, 1024, 20);

describe("vmCost", () => {
  it("one VM of the given size", () => {
    expect(vmCost({ vcpus: 2, memoryMiB: 256, diskGiB: 5 })).toEqual(amounts(1, 2, 256, 5));
  });
});

describe("quotaExcesses", () => {
  it("is empty when the request fits with room to spare", () => {
    expect(quotaExcesses(LIMITS, amounts(1, 1, 128, 2), amounts(1, 1, 128, 2))).toEqual([]);
  });

  it("allows an exact fit on every resource at once", () => {
    expect(quotaExcesses(LIMITS, amounts(2, 2, 512, 10), amounts(1, 2, 512, 10))).toEqual([]);
    expect(quotaExcesses(LIMITS, ZERO, LIMITS)).toEqual([]);
  });

  it.each([
    ["vms", amounts(3, 0, 0, 0), amounts(1, 0, 0, 0), { limit: 3, used: 3, requested: 1 }],
    ["vcpus", amounts(0, 3, 0, 0), amounts(0, 2, 0, 0), { limit: 4, used: 3, requested: 2 }],
    ["memoryMiB", amounts(0, 0, 1000, 0), amounts(0, 0, 25, 0), { limit: 1024, used: 1000, requested: 25 }],
    ["diskGiB", amounts(0, 0, 0, 20), amounts(0, 0, 0, 1), { limit: 20, used: 20, requested: 1 }],
  ] as const)("reports %s alone when only it is exceeded (by one unit)", (resource, used, requested, numbers) => {
    expect(quotaExcesses(LIMITS, used, requested)).toEqual([{ resource, ...numbers }]);
  });

  it("reports several excesses at once, in resource order", () => {
    const result = quotaExcesses(LIMITS, amounts(3, 4, 512, 5), amounts(1, 1, 1024, 1));
    expect(result).toEqual([
      { resource: "vms", limit: 3, used: 3, requested: 1 },
      { resource: "vcpus", limit: 4, used: 4, requested: 1 },
      { resource: "memoryMiB", limit: 1024, used: 512, requested: 1024 },
    ]);
  });

  it("reports every resource when all are exceeded", () => {
    expect(quotaExcesses(LIMITS, LIMITS, amounts(1, 1, 1, 1)).map((e) => e.resource)).toEqual([...QUOTA_RESOURCES]);
  });

  it("zero limits refuse any positive request and allow a zero one", () => {
    expect(quotaExcesses(ZERO, ZERO, amounts(1, 1, 128, 1)).map((e) => e.resource)).toEqual(["vms", "vcpus", "memoryMiB", "diskGiB"]);
    expect(quotaExcesses(ZERO, ZERO, ZERO)).toEqual([]);
    expect(quotaExcesses(amounts(0, 4, 1024, 20), ZERO, amounts(1, 1, 128, 1))).toEqual([{ resource: "vms", limit: 0, used: 0, requested: 1 }]);
  });

  it("usage already above a lowered limit blocks any further request of that resource", () => {
    expect(quotaExcesses(amounts(1, 4, 1024, 20), amounts(2, 0, 0, 0), amounts(1, 0, 0, 0))).toEqual([{ resource: "vms", limit: 1, used: 2, requested: 1 }]);
  });
});

describe("describeExcess", () => {
  it.each([
    ["vms", "VM count"],
    ["vcpus", "vCPUs"],
    ["memoryMiB", "memory (MiB)"],
    ["diskGiB", "disk (GiB)"],
  ] as const)("names the %s limit as %j with limit, usage, request and what is left", (resource, label) => {
    expect(describeExcess({ resource, limit: 10, used: 7, requested: 5 })).toBe(`quota exceeded: ${label} limit 10, in use 7, requested 5 (3 left)`);
  });

  it("never reports a negative amount left when usage is above the limit", () => {
    expect(describeExcess({ resource: "vcpus", limit: 2, used: 5, requested: 1 })).toBe("quota exceeded: vCPUs limit 2, in use 5, requested 1 (0 left)");
  });
});

describe("addAmounts / subtractAmounts", () => {
  it("adds per resource", () => {
    expect(addAmounts(amounts(1, 2, 128, 3), amounts(2, 1, 256, 4))).toEqual(amounts(3, 3, 384, 7));
    expect(addAmounts(ZERO, LIMITS)).toEqual(LIMITS);
  });

  it("subtracts per resource", () => {
    expect(subtractAmounts(amounts(3, 3, 384, 7), amounts(2, 1, 256, 4))).toEqual(amounts(1, 2, 128, 3));
    expect(subtractAmounts(LIMITS, LIMITS)).toEqual(ZERO);
  });

  it("never goes below zero, per resource independently", () => {
    expect(subtractAmounts(amounts(1, 1, 128, 1), amounts(2, 1, 512, 0))).toEqual(amounts(0, 0, 0, 1));
    expect(subtractAmounts(ZERO, LIMITS)).toEqual(ZERO);
  });

  it("does not mutate its arguments", () => {
    const a = amounts(1, 2, 3, 4);
    const b = amounts(1, 1, 1, 1);
    addAmounts(a, b);
    subtractAmounts(a, b);
    expect(a).toEqual(amounts(1, 2, 3, 4));
    expect(b).toEqual(amounts(1, 1, 1, 1));
  });
});

describe("sumCosts / sameAmounts", () => {
  it("an empty list costs nothing", () => {
    expect(sumCosts([])).toEqual(ZERO);
  });

  it("counts one VM per spec and sums the sizes", () => {
    expect(
      sumCosts([
        { vcpus: 1, memoryMiB: 128, diskGiB: 1 },
        { vcpus: 2, memoryMiB: 256, diskGiB: 5 },
        { vcpus: 1, memoryMiB: 96, diskGiB: 2 },
      ]),
    ).toEqual(amounts(3, 4, 480, 8));
  });

  it("sameAmounts compares every resource", () => {
    expect(sameAmounts(amounts(1, 2, 3, 4), amounts(1, 2, 3, 4))).toBe(true);
    expect(sameAmounts(amounts(1, 2, 3, 4), amounts(0, 2, 3, 4))).toBe(false);
    expect(sameAmounts(amounts(1, 2, 3, 4), amounts(1, 0, 3, 4))).toBe(false);
    expect(sameAmounts(amounts(1, 2, 3, 4), amounts(1, 2, 0, 4))).toBe(false);
    expect(sameAmounts(amounts(1, 2, 3, 4), amounts(1, 2, 3, 0))).toBe(false);
  });
});
