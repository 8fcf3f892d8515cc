import { describe, expect, it } from "vitest";
import { diffQuotaUsage } from "../../../server/domain/quota.ts";
import { diffDomains } from "../../../server/jobs/reconciler.ts";

const used = (vms: number, vcpus: number, memoryMiB: number, diskGiB: number) => ({ vms, vcpus, memoryMiB, diskGiB });
const ZERO = used(0, 0, 0, 0);
const vm = (ownerId: string, vcpus: number, memoryMiB: number, diskGiB: number) => ({ ownerId, vcpus, memoryMiB, diskGiB });

describe("diffQuotaUsage", () => {
  it("no users, no VMs: no drift", () => {
    expect(diffQuotaUsage([], [])).toEqual([]);
  });

  it("usage that matches the holding VMs is not drift", () => {
    expect(
      diffQuotaUsage(
        [
          { userId: "a", used: used(2, 3, 384, 6) },
          { userId: "b", used: ZERO },
        ],
        [vm("a", 1, 128, 1), vm("a", 2, 256, 5)],
      ),
    ).toEqual([]);
  });

  it("recorded usage without any VM is drift back to zero", () => {
    expect(diffQuotaUsage([{ userId: "a", used: used(1, 1, 128, 1) }], [])).toEqual([{ userId: "a", recorded: used(1, 1, 128, 1), actual: ZERO }]);
  });

  it("a VM not counted is drift upwards", () => {
    expect(diffQuotaUsage([{ userId: "a", used: ZERO }], [vm("a", 2, 256, 3)])).toEqual([{ userId: "a", recorded: ZERO, actual: used(1, 2, 256, 3) }]);
  });

  it("a difference in any single resource is drift", () => {
    const vms = [vm("a", 2, 256, 3)];
    for (const recorded of [used(0, 2, 256, 3), used(1, 1, 256, 3), used(1, 2, 255, 3), used(1, 2, 256, 4)]) {
      expect(diffQuotaUsage([{ userId: "a", used: recorded }], vms)).toEqual([{ userId: "a", recorded, actual: used(1, 2, 256, 3) }]);
    }
  });

  it("reports only the users that drifted, each against their own VMs, in input order", () => {
    const result = diffQuotaUsage(
      [
        { userId: "a", used: used(1, 1, 128, 1) },
        { userId: "b", used: used(5, 5, 5, 5) },
        { userId: "c", used: used(0, 0, 0, 0) },
      ],
      [vm("a", 1, 128, 1), vm("b", 1, 96, 1), vm("c", 4, 512, 10), vm("c", 1, 128, 1)],
    );
    expect(result).toEqual([
      { userId: "b", recorded: used(5, 5, 5, 5), actual: used(1, 1, 96, 1) },
      { userId: "c", recorded: ZERO, actual: used(2, 5, 640, 11) },
    ]);
  });

  it("VMs of owners without a quota row are ignored (no row to repair)", () => {
    expect(diffQuotaUsage([{ userId: "a", used: ZERO }], [vm("ghost", 1, 128, 1)])).toEqual([]);
  });
});

describe("diffDomains", () => {
  const A = "vmdesk-11111111-2222-4333-8444-555555555555";
  const B = "vmdesk-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  const C = "vmdesk-01234567-89ab-4cde-8f01-23456789abcd";

  it("nothing on the host, nothing to do", () => {
    expect(diffDomains([], [])).toEqual({ leftovers: [], unknown: [] });
  });

  it("domains of live VMs (any state but deleted) are neither leftovers nor unknown", () => {
    for (const state of ["provisioning", "running", "paused", "stopped", "error", "deleting", "missing"]) {
      expect(diffDomains([A], [{ domainName: A, state }]), state).toEqual({ leftovers: [], unknown: [] });
    }
  });

  it("a domain whose VM row is deleted is a leftover to remove", () => {
    expect(diffDomains([A, B], [{ domainName: A, state: "deleted" }, { domainName: B, state: "running" }])).toEqual({ leftovers: [A], unknown: [] });
  });

  it("one of our domains with no row at all is unknown (reported, not removed)", () => {
    expect(diffDomains([A, C], [{ domainName: A, state: "running" }])).toEqual({ leftovers: [], unknown: [C] });
  });

  it("domains that are not vmdesk-<uuid> are never touched nor reported", () => {
    const others = ["debian12", "vmdesk-", "vmdesk-not-a-uuid", `x${A}`, `${A}-clone`, A.toUpperCase(), "vmdesk-11111111222243338444555555555555"];
    expect(diffDomains(others, [])).toEqual({ leftovers: [], unknown: [] });
    expect(diffDomains(others, others.map((domainName) => ({ domainName, state: "deleted" })))).toEqual({ leftovers: [], unknown: [] });
  });

  it("rows without a domain on the host change nothing (the monitor marks those missing)", () => {
    expect(diffDomains([], [{ domainName: A, state: "deleted" }, { domainName: B, state: "running" }])).toEqual({ leftovers: [], unknown: [] });
  });

  it("sorts a mixed host into leftovers and unknown, keeping host order", () => {
    expect(diffDomains(["other", C, A, B], [{ domainName: A, state: "deleted" }, { domainName: B, state: "stopped" }])).toEqual({ leftovers: [A], unknown: [C] });
  });
});
