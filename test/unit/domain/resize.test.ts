import { describe, expect, it } from "vitest";
import { planResize, type ResizeSubject } from "../../../server/domain/resize.ts";
import { quotaExcesses } from "../../../server/domain/quota.ts";

const running: ResizeSubject = { state: "running", vcpus: 1, memoryMiB: 128, diskGiB: 1, maxVcpus: 2, maxMemoryMiB: 256 };
const stopped: ResizeSubject = { ...running, state: "stopped" };

describe("resize rules", () => {
  it("running: more vCPUs and memory up to the maximums, a bigger disk, live", () => {
    expect(planResize(running, { vcpus: 2, memoryMiB: 192, diskGiB: 3 })).toEqual({
      from: { vcpus: 1, memoryMiB: 128, diskGiB: 1 },
      to: { vcpus: 2, memoryMiB: 192, diskGiB: 3 },
      delta: { vms: 0, vcpus: 1, memoryMiB: 64, diskGiB: 2 },
      live: true,
    });
    // The balloon also gives memory back live.
    expect(planResize({ ...running, memoryMiB: 192 }, { memoryMiB: 128 }).delta.memoryMiB).toBe(-64);
  });

  it("running: beyond the maximums, or fewer vCPUs, needs a stop (412)", () => {
    expect(() => planResize(running, { vcpus: 3 })).toThrow(expect.objectContaining({ code: "WRONG_STATE", message: expect.stringContaining("at most 2 vCPUs") }));
    expect(() => planResize({ ...running, vcpus: 2 }, { vcpus: 1 })).toThrow(expect.objectContaining({ code: "WRONG_STATE", message: expect.stringContaining("fewer vCPUs") }));
    expect(() => planResize(running, { memoryMiB: 512 })).toThrow(expect.objectContaining({ code: "WRONG_STATE" }));
    // No maximum set at create: no live growth at all.
    expect(() => planResize({ ...running, maxVcpus: null, maxMemoryMiB: null }, { memoryMiB: 129 })).toThrow(expect.objectContaining({ code: "WRONG_STATE" }));
  });

  it("stopped: any size; disks never shrink (400); nothing to change is 400; busy states 412", () => {
    expect(planResize(stopped, { vcpus: 4, memoryMiB: 1024 }).live).toBe(false);
    expect(planResize({ ...stopped, vcpus: 4 }, { vcpus: 1 }).delta.vcpus).toBe(-3);
    expect(() => planResize(stopped, { diskGiB: 0 })).toThrow(expect.objectContaining({ code: "BAD_REQUEST", message: expect.stringContaining("disks only grow") }));
    expect(() => planResize(running, { diskGiB: 1 })).toThrow(expect.objectContaining({ code: "BAD_REQUEST", message: expect.stringContaining("nothing to change") }));
    expect(() => planResize(stopped, { memoryMiB: 64 })).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
    for (const state of ["provisioning", "error", "deleting", "missing", "unknown"] as const) {
      expect(() => planResize({ ...stopped, state }, { vcpus: 2 })).toThrow(expect.objectContaining({ code: "WRONG_STATE" }));
    }
  });

  it("quota: a resize that gives back, or asks for none of a resource, never exceeds it", () => {
    const limits = { vms: 1, vcpus: 2, memoryMiB: 256, diskGiB: 2 };
    // Usage above a limit an admin lowered since: a shrink of memory is still fine.
    expect(quotaExcesses(limits, { vms: 1, vcpus: 4, memoryMiB: 256, diskGiB: 2 }, { vms: 0, vcpus: 0, memoryMiB: -64, diskGiB: 0 })).toEqual([]);
    expect(quotaExcesses(limits, { vms: 1, vcpus: 2, memoryMiB: 128, diskGiB: 2 }, { vms: 0, vcpus: 0, memoryMiB: 129, diskGiB: 0 })).toEqual([
      { resource: "memoryMiB", limit: 256, used: 128, requested: 129 },
    ]);
  });
});
