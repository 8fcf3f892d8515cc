import { describe, expect, it } from "vitest";
import { isolatedIndices } from "../../../app/_components/metrics/gaps.ts";

describe("readings a line chart cannot join", () => {
  it("are the values with a gap (or the edge) on both sides", () => {
    expect(isolatedIndices([null, 5, null, 1, 2, null, 0])).toEqual([1, 6]);
    expect(isolatedIndices([7])).toEqual([0]);
    expect(isolatedIndices([1, 2, 3])).toEqual([]);
    expect(isolatedIndices([null, null])).toEqual([]);
    expect(isolatedIndices([])).toEqual([]);
    expect(isolatedIndices([undefined, 0, undefined])).toEqual([1]);
  });
});
