import { describe, expect, it } from "vitest";
import { AppError } from "../../../server/domain/errors.ts";
import { assertTuningChangeAllowed, choosePcpus, flavorProblem, formatPciAddress, freePcpus, NO_TUNING, parsePciAddress, tuningChanges } from "../../../server/domain/flavor.ts";

const { hostDevices: _devices, ...knobs } = NO_TUNING;
const flavor = (over: Partial<typeof knobs> & { vcpus?: number; memoryMiB?: number } = {}) => ({ vcpus: 2, memoryMiB: 256, ...knobs, ...over });

describe("dedicated pCPUs", () => {
  it("keeps the reserved pCPUs for the host and gives the lowest free ones", () => {
    expect(freePcpus(4, 1, new Set())).toEqual([1, 2, 3]);
    expect(choosePcpus(4, 1, new Set([1]), 2)).toEqual([2, 3]);
    expect(choosePcpus(4, 1, new Set([1, 2]), 2)).toBeNull();
    expect(choosePcpus(2, 0, new Set([0]), 1)).toEqual([1]);
    expect(choosePcpus(2, 1, new Set(), 2)).toBeNull();
  });
});

describe("flavorProblem: rules between knobs", () => {
  it("accepts a plain flavor and a full one", () => {
    expect(flavorProblem(flavor())).toBeNull();
    expect(flavorProblem(flavor({ dedicatedCpus: true, numaNodes: 2, numaMode: "strict", numaNodeset: "0", memoryMiB: 384, hugepagesKiB: 2048, netInAverageKiBs: 10, netInPeakKiBs: 20, firmware: "uefi", secureBoot: true }))).toBeNull();
    expect(flavorProblem(flavor({ firmware: "uefi", memoryMiB: 256 }))).toBeNull();
  });
  it.each([
    [{ numaNodes: 3 }, /cannot exceed vcpus/],
    [{ numaNodes: 2, memoryMiB: 255 }, /divide evenly/],
    [{ numaMode: "strict" as const }, /needs numaNodeset/],
    [{ numaNodeset: "0" }, /needs numaMode/],
    [{ hugepagesKiB: 2048, memoryMiB: 255, vcpus: 1 }, /whole number of 2048 KiB huge pages/],
    [{ hugepagesKiB: 1_048_576 }, /huge pages/],
    [{ diskTotalIops: 10, diskReadIops: 5 }, /excludes/],
    [{ diskTotalBytesSec: 10n, diskWriteBytesSec: 5n }, /excludes/],
    [{ netOutPeakKiBs: 10 }, /need netOutAverageKiBs/],
    [{ netInAverageKiBs: 10, netInPeakKiBs: 5 }, /at least netInAverageKiBs/],
    [{ secureBoot: true }, /needs firmware uefi/],
    [{ firmware: "uefi" as const, memoryMiB: 255 }, /UEFI guests need at least 256 MiB/],
    [{ firmware: "uefi" as const, secureBoot: true, memoryMiB: 256 }, /Secure Boot guests need at least 384 MiB/],
  ])("refuses %o", (over, reason) => {
    expect(flavorProblem(flavor(over))).toMatch(reason);
  });
});

describe("changing flavor", () => {
  it("lists the tuning that differs, devices in any order", () => {
    expect(tuningChanges(NO_TUNING, NO_TUNING)).toEqual([]);
    expect(tuningChanges(NO_TUNING, { ...NO_TUNING, dedicatedCpus: true, cpuShares: 5 })).toEqual(["dedicatedCpus", "cpuShares"]);
    expect(tuningChanges({ ...NO_TUNING, hostDevices: ["a", "b"] }, { ...NO_TUNING, hostDevices: ["b", "a"] })).toEqual([]);
    expect(tuningChanges(NO_TUNING, { ...NO_TUNING, hostDevices: ["a"] })).toEqual(["hostDevices"]);
  });
  it("needs the VM stopped when tuning differs (412), any state otherwise", () => {
    expect(() => assertTuningChangeAllowed("running", [])).not.toThrow();
    expect(() => assertTuningChangeAllowed("stopped", ["dedicatedCpus"])).not.toThrow();
    try {
      assertTuningChangeAllowed("running", ["dedicatedCpus"]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("WRONG_STATE");
    }
  });
});

describe("PCI addresses", () => {
  it("parses domain:bus:slot.function and writes it canonically", () => {
    expect(parsePciAddress("0000:65:00.1")).toEqual({ domain: 0, bus: 0x65, slot: 0, function: 1 });
    expect(formatPciAddress(parsePciAddress("0000:AF:1F.7")!)).toBe("0000:af:1f.7");
    for (const bad of ["65:00.0", "0000:65:20.0", "0000:65:00.8", "0000:65:00.0;x", ""]) expect(parsePciAddress(bad)).toBeNull();
  });
});
