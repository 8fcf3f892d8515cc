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
  const HOST = "host-1";
  /** The host's domains by name (all running), rows as the reconciler reads them. */
  const diff = (names: string[], rows: Array<{ domainName: string; state: string; hostId?: string; targetHostId?: string | null }>) =>
    diffDomains(HOST, names.map((name) => ({ name, state: "running" })), rows);

  const A = "vmdesk-11111111-2222-4333-8444-555555555555";
  const B = "vmdesk-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  const C = "vmdesk-01234567-89ab-4cde-8f01-23456789abcd";

  it("nothing on the host, nothing to do", () => {
    expect(diff([], [])).toEqual({ leftovers: [], unknown: [], strays: [], duplicates: [] });
  });

  it("domains of live VMs (any state but deleted) are neither leftovers nor unknown", () => {
    for (const state of ["provisioning", "running", "paused", "stopped", "error", "deleting", "missing"]) {
      expect(diff([A], [{ domainName: A, state }]), state).toEqual({ leftovers: [], unknown: [], strays: [], duplicates: [] });
    }
  });

  it("a domain whose VM row is deleted is a leftover to remove", () => {
    expect(diff([A, B], [{ domainName: A, state: "deleted" }, { domainName: B, state: "running" }])).toEqual({ leftovers: [A], unknown: [], strays: [], duplicates: [] });
  });

  it("one of our domains with no row at all is unknown (reported, not removed)", () => {
    expect(diff([A, C], [{ domainName: A, state: "running" }])).toEqual({ leftovers: [], unknown: [C], strays: [], duplicates: [] });
  });

  it("domains that are not vmdesk-<uuid> are never touched nor reported", () => {
    const others = ["debian12", "vmdesk-", "vmdesk-not-a-uuid", `x${A}`, `${A}-clone`, A.toUpperCase(), "vmdesk-11111111222243338444555555555555"];
    expect(diff(others, [])).toEqual({ leftovers: [], unknown: [], strays: [], duplicates: [] });
    expect(diff(others, others.map((domainName) => ({ domainName, state: "deleted" })))).toEqual({ leftovers: [], unknown: [], strays: [], duplicates: [] });
  });

  it("rows without a domain on the host change nothing (the monitor marks those missing)", () => {
    expect(diff([], [{ domainName: A, state: "deleted" }, { domainName: B, state: "running" }])).toEqual({ leftovers: [], unknown: [], strays: [], duplicates: [] });
  });

  it("sorts a mixed host into leftovers and unknown, keeping host order", () => {
    expect(diff(["other", C, A, B], [{ domainName: A, state: "deleted" }, { domainName: B, state: "stopped" }])).toEqual({ leftovers: [A], unknown: [C], strays: [], duplicates: [] });
  });

  it("a VM placed on another host leaves a stray definition here (undefined) when not running, a duplicate (reported) when running", () => {
    const rows = [
      { domainName: A, state: "running", hostId: "host-2", targetHostId: null },
      { domainName: B, state: "running", hostId: "host-2", targetHostId: null },
      { domainName: C, state: "running", hostId: HOST, targetHostId: null },
    ];
    const domains = [
      { name: A, state: "shutoff" },
      { name: B, state: "running" },
      { name: C, state: "running" },
    ];
    expect(diffDomains(HOST, domains, rows)).toEqual({ leftovers: [], unknown: [], strays: [A], duplicates: [B] });
  });

  it("a VM on its way here (migration or HA restart destination) is neither stray nor duplicate", () => {
    const rows = [{ domainName: A, state: "running", hostId: "host-2", targetHostId: HOST }];
    expect(diffDomains(HOST, [{ name: A, state: "running" }], rows)).toEqual({ leftovers: [], unknown: [], strays: [], duplicates: [] });
  });
});
