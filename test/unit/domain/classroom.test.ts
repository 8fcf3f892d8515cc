import { describe, expect, it } from "vitest";
import { parseRoster, previewProvision, studentMay } from "../../../server/domain/classroom.ts";
import { placeMany, type PlacementHost } from "../../../server/domain/placement.ts";

const none = { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };
const template = { vcpus: 1, memoryMiB: 128, diskGiB: 1 };

describe("parseRoster", () => {
  it("reads username, name and email with any of , ; tab and skips a header and blank lines", () => {
    const r = parseRoster('username,name,email\nann,Ann Lee,ann@example.org\n\nbob;Bob\n"cy"\tCy\tcy@x.io\n');
    expect(r.errors).toEqual([]);
    expect(r.rows).toEqual([
      { username: "ann", displayName: "Ann Lee", email: "ann@example.org" },
      { username: "bob", displayName: "Bob", email: "" },
      { username: "cy", displayName: "Cy", email: "cy@x.io" },
    ]);
  });
  it("reports bad usernames, bad emails and duplicates with their line numbers", () => {
    const r = parseRoster("ok1\nbad name\nok2,,not-an-email\nOK1");
    expect(r.rows.map((x) => x.username)).toEqual(["ok1"]);
    expect(r.errors).toEqual([
      { line: 2, message: expect.stringContaining("not a valid username") },
      { line: 3, message: expect.stringContaining("not an email") },
      { line: 4, message: "OK1 is listed twice" },
    ]);
  });
});

describe("previewProvision", () => {
  const budget = (limits: typeof none) => ({ limits, used: none });
  const big = { vms: 99, vcpus: 99, memoryMiB: 99_999, diskGiB: 99 };
  const host = (id: string, over: Partial<PlacementHost> = {}): PlacementHost => ({
    id, name: id, state: "up", cpus: 2, memoryMiB: 24_000, diskFreeGiB: 50, cpuRatio: 16, memoryRatio: 1,
    allocated: { vcpus: 0, memoryMiB: 0, diskGiB: 0 }, labels: {}, images: new Set(["img"]), ...over,
  });
  const request = { ...template, image: { id: "img", name: "lab", copyable: false }, antiAffinity: { mode: "soft" as const, members: {}, group: "class" } };
  const students = (n: number) => Array.from({ length: n }, (_, i) => `s${i + 1}`);
  const preview = (hosts: PlacementHost[], n: number, limits = big) =>
    previewProvision({ students: students(n), template, budget: budget(limits), placements: placeMany(hosts, Array.from({ length: n }, () => request)) });

  it("spreads a class of 9 over 3 hosts 3/3/3 and says where each student's VM goes", () => {
    const p = preview([host("h1"), host("h2"), host("h3")], 9);
    expect(p.fits).toBe(true);
    expect(p.reasons).toEqual([]);
    expect(p.cost).toEqual({ vms: 9, vcpus: 9, memoryMiB: 1152, diskGiB: 9 });
    expect(p.hosts).toEqual(["h1", "h2", "h3"].map((name) => ({ name, vms: 3, vcpus: 3, memoryMiB: 384, diskGiB: 3 })));
    expect(p.placements).toHaveLength(9);
    expect(p.placements.every((x) => x.host !== null)).toBe(true);
  });
  it("names the budget limit that does not fit", () => {
    const p = preview([host("h1")], 3, { vms: 2, vcpus: 10, memoryMiB: 1000, diskGiB: 10 });
    expect(p.fits).toBe(false);
    expect(p.reasons).toEqual([expect.stringMatching(/^class budget exceeded: VM count limit 2, in use 0, requested 3/)]);
  });
  it("lists the students no host can take, with every host's reason", () => {
    const p = preview([host("h1", { cpus: 1, cpuRatio: 2 }), host("h2", { state: "down" })], 3);
    expect(p.fits).toBe(false);
    expect(p.placements.map((x) => x.host)).toEqual(["h1", "h1", null]);
    expect(p.reasons).toEqual([expect.stringMatching(/^no host can take the VM of s3: no host can take this VM: 2 hosts refused/)]);
    expect(p.refusals).toEqual([
      { host: "h1", reason: 'host "h1": vCPUs 0 free of 1 × 2.0 (needs 1)' },
      { host: "h2", reason: 'host "h2" is down' },
    ]);
  });
});

describe("studentMay", () => {
  const rules = { studentsMayPower: true, studentsMayReset: false, studentsMayRevert: true, frozenAt: null };
  it("follows the class switches", () => {
    expect(["start", "shutdown", "poweroff", "reboot"].every((a) => studentMay(rules, a as "start"))).toBe(true);
    expect(studentMay(rules, "reset")).toBe(false);
    expect(studentMay(rules, "revert")).toBe(true);
    expect(studentMay({ ...rules, studentsMayPower: false }, "start")).toBe(false);
  });
  it("allows nothing once the class is frozen", () => {
    for (const a of ["start", "shutdown", "poweroff", "reboot", "reset", "revert", "console"] as const) {
      expect(studentMay({ ...rules, frozenAt: new Date() }, a)).toBe(false);
    }
  });
});
