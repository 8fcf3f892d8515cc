import { describe, expect, it } from "vitest";
import { AppError } from "../../../server/domain/errors.ts";
import { assertSnapshotFits, libvirtSnapshotName, SNAPSHOT_NAME, snapshotKeepsMemory } from "../../../server/domain/snapshots.ts";
import { authorize } from "../../../server/domain/policy.ts";

describe("tenant snapshot rules", () => {
  it("names: what libvirt and a URL path take safely, prefixed apart from class checkpoints", () => {
    for (const ok of ["s1", "before-upgrade", "v1.2_final", "A".repeat(63)]) expect(SNAPSHOT_NAME.test(ok)).toBe(true);
    for (const bad of ["", "-x", ".hidden", "a b", "../etc", "x".repeat(64), "naïve", "s1\n", "a/b", "<x>"]) expect(SNAPSHOT_NAME.test(bad)).toBe(false);
    expect(libvirtSnapshotName("s1")).toBe("u-s1");
    expect(() => libvirtSnapshotName("submission/../x")).toThrow(AppError);
  });

  it("memory: kept by default while running, never for a stopped VM", () => {
    expect(snapshotKeepsMemory("running", undefined)).toBe(true);
    expect(snapshotKeepsMemory("paused", undefined)).toBe(true);
    expect(snapshotKeepsMemory("running", false)).toBe(false);
    expect(snapshotKeepsMemory("stopped", undefined)).toBe(false);
    expect(snapshotKeepsMemory("stopped", false)).toBe(false);
    expect(() => snapshotKeepsMemory("stopped", true)).toThrow(expect.objectContaining({ code: "WRONG_STATE" }));
  });

  it("quota: one more must fit under the limit", () => {
    expect(() => assertSnapshotFits(2, 1)).not.toThrow();
    expect(() => assertSnapshotFits(2, 2)).toThrow(expect.objectContaining({ code: "QUOTA_EXCEEDED", message: expect.stringContaining("snapshots limit 2, in use 2") }));
    expect(() => assertSnapshotFits(0, 0)).toThrow(expect.objectContaining({ code: "QUOTA_EXCEEDED" }));
  });

  it("policy: owners snapshot and revert their personal VMs; students never snapshot a class VM", () => {
    const owner = { id: "u1", role: "tenant" as const };
    expect(() => authorize(owner, "vm.snapshot", { ownerId: "u1" })).not.toThrow();
    expect(() => authorize(owner, "vm.revert", { ownerId: "u1" })).not.toThrow();
    expect(() => authorize(owner, "vm.snapshot", { ownerId: "u2" })).toThrow();
    const classRules = { frozenAt: null, studentsMayPower: true, studentsMayReset: true, studentsMayRevert: false };
    expect(() => authorize(owner, "vm.snapshot", { ownerId: "u1", teacherIds: ["t1"], classRules })).toThrow();
    expect(() => authorize(owner, "vm.revert", { ownerId: "u1", teacherIds: ["t1"], classRules })).toThrow();
    expect(() => authorize(owner, "vm.revert", { ownerId: "u1", teacherIds: ["t1"], classRules: { ...classRules, studentsMayRevert: true } })).not.toThrow();
  });
});
