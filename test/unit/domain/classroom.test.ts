import { describe, expect, it } from "vitest";
import { parseRoster, previewProvision, studentMay, type HostCapacity } from "../../../server/domain/classroom.ts";

const none = { vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 };
const host: HostCapacity = { id: "h", name: "local", connected: true, enabled: true, cpus: 2, memoryMiB: 24_000, freeMemoryMiB: 20_000, diskFreeGiB: 50, committedVcpus: 0, committedMemoryMiB: 0 };
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
  it("fits within budget and host capacity, reporting the impact", () => {
    const p = previewProvision({ count: 10, template, budget: { limits: { vms: 10, vcpus: 10, memoryMiB: 1280, diskGiB: 10 }, used: none }, host });
    expect(p.fits).toBe(true);
    expect(p.reasons).toEqual([]);
    expect(p.cost).toEqual({ vms: 10, vcpus: 10, memoryMiB: 1280, diskGiB: 10 });
    expect(p.budget.after).toEqual({ vms: 10, vcpus: 10, memoryMiB: 1280, diskGiB: 10 });
    expect(p.host?.vcpus).toEqual({ committed: 0, adding: 10, capacity: 32, ratioAfter: 5 });
  });
  it("names the budget limit that does not fit", () => {
    const p = previewProvision({ count: 3, template, budget: { limits: { vms: 2, vcpus: 10, memoryMiB: 1000, diskGiB: 10 }, used: none }, host: { ...host, cpus: 8 } });
    expect(p.fits).toBe(false);
    expect(p.reasons).toEqual([expect.stringMatching(/^class budget exceeded: VM count limit 2, in use 0, requested 3/)]);
  });
  it("names host memory, vCPU overcommit, free memory and disk shortfalls", () => {
    const small: HostCapacity = { ...host, cpus: 1, memoryMiB: 1024, freeMemoryMiB: 600, diskFreeGiB: 2, committedVcpus: 3, committedMemoryMiB: 256 };
    const p = previewProvision({ count: 3, template, budget: { limits: { vms: 9, vcpus: 9, memoryMiB: 9999, diskGiB: 99 }, used: none }, host: small, overcommit: { cpuRatio: 4, memoryRatio: 1, reservedMemoryMiB: 512 } });
    expect(p.fits).toBe(false);
    expect(p.reasons.join("\n")).toMatch(/6 vCPUs on 1 CPUs exceeds the 4:1 overcommit limit \(4\)/);
    expect(p.reasons.join("\n")).toMatch(/640 MiB of guest memory exceeds the 512 MiB/);
    expect(p.reasons.join("\n")).toMatch(/384 MiB needed but only 88 MiB free now/);
    expect(p.reasons.join("\n")).toMatch(/up to 3 GiB of disk needed, 2 GiB free/);
  });
  it("refuses a disconnected or disabled host and a missing one", () => {
    expect(previewProvision({ count: 1, template, budget: { limits: { vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 }, used: none }, host: { ...host, connected: false, enabled: false } }).reasons).toEqual(["host local is disabled", "host local is not connected"]);
    expect(previewProvision({ count: 1, template, budget: { limits: { vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 }, used: none }, host: null }).reasons).toEqual(["the lab image has no host"]);
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
