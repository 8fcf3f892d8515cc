import { describe, expect, it } from "vitest";
import { guestLoadSeries, hostShare, inGroup, moveCandidates, overloaded } from "../../../server/domain/load-balance.ts";

const NOW = new Date("2026-12-06T12:00:00Z");
const at = (sAgo: number) => new Date(NOW.getTime() - sAgo * 1000);

describe("inGroup", () => {
  it("null is every host; key=value needs that label", () => {
    expect(inGroup(null, {})).toBe(true);
    expect(inGroup("zone=a", { zone: "a" })).toBe(true);
    expect(inGroup("zone=a", { zone: "b" })).toBe(false);
    expect(inGroup("zone=a", {})).toBe(false);
    expect(inGroup("=a", { "": "a" })).toBe(false);
  });
});

describe("guest load", () => {
  it("a VM's share is its CPU % times its vCPUs over the host's CPUs", () => {
    expect(hostShare({ cpuPct: 100, vcpus: 1 }, 2)).toBe(50);
    expect(hostShare({ cpuPct: 50, vcpus: 4 }, 8)).toBe(25);
  });

  it("sums the VMs per reading time", () => {
    const series = guestLoadSeries(
      [
        { at: at(4), cpuPct: 100, vcpus: 1 },
        { at: at(4), cpuPct: 100, vcpus: 1 },
        { at: at(2), cpuPct: 50, vcpus: 1 },
      ],
      2,
    );
    expect(series).toEqual([
      { at: at(4), value: 100 },
      { at: at(2), value: 25 },
    ]);
  });

  it("overloaded only when every reading of a covered window is above", () => {
    const policy = { cpuAbovePct: 60, windowS: 10 };
    const high = [10, 8, 6, 4, 2, 0].map((s) => ({ at: at(s), value: 90 }));
    expect(overloaded(high, policy, NOW, 2)).toBe(true);
    expect(overloaded(high.map((r, i) => (i === 3 ? { ...r, value: 50 } : r)), policy, NOW, 2)).toBe(false);
    // Four seconds of readings do not cover a ten-second window.
    expect(overloaded(high.slice(-3), policy, NOW, 2)).toBe(false);
  });
});

describe("moveCandidates", () => {
  it("offers the VM that relieves the source most first, only where it fits under the threshold", () => {
    const vms = [
      { vmId: "small", vcpus: 1, cpuPct: 20 },
      { vmId: "big", vcpus: 2, cpuPct: 90 },
      { vmId: "idle", vcpus: 1, cpuPct: 0 },
    ];
    const dests = [
      { id: "cool", cpus: 4, loadPct: 10 },
      { id: "warm", cpus: 4, loadPct: 50 },
    ];
    expect(moveCandidates({ cpus: 4 }, vms, dests, 60)).toEqual([
      { vmId: "big", destinations: ["cool"] },
      { vmId: "small", destinations: ["cool", "warm"] },
    ]);
  });

  it("a VM that would push every destination over the threshold is not offered: the hot spot would only move", () => {
    expect(moveCandidates({ cpus: 2 }, [{ vmId: "hog", vcpus: 2, cpuPct: 100 }], [{ id: "other", cpus: 2, loadPct: 0 }], 60)).toEqual([]);
  });
});
