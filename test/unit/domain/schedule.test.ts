import { describe, expect, it } from "vitest";
import { dueSessionActions, expiryWarning, freezeDue, isExpired } from "../../../server/domain/schedule.ts";

const at = (s: string) => new Date(`2026-11-27T${s}:00Z`);
const session = { id: "s", classId: "c", startsAt: at("10:00"), endsAt: at("12:00"), startedAt: null, endedAt: null };

describe("dueSessionActions", () => {
  const pre = () => 10;
  it("starts VMs N minutes before the session, once", () => {
    expect(dueSessionActions([session], at("09:49"), pre)).toEqual([]);
    expect(dueSessionActions([session], at("09:50"), pre)).toEqual([{ sessionId: "s", classId: "c", action: "start" }]);
    expect(dueSessionActions([{ ...session, startedAt: at("09:50") }], at("10:30"), pre)).toEqual([]);
  });
  it("stops at the end, once, even if the start was missed", () => {
    expect(dueSessionActions([{ ...session, startedAt: at("09:50") }], at("12:00"), pre)).toEqual([{ sessionId: "s", classId: "c", action: "stop" }]);
    expect(dueSessionActions([session], at("13:00"), pre)).toEqual([{ sessionId: "s", classId: "c", action: "stop" }]);
    expect(dueSessionActions([{ ...session, endedAt: at("12:00") }], at("13:00"), pre)).toEqual([]);
  });
});

describe("expiry and freeze", () => {
  it("expires at the instant given", () => {
    expect(isExpired(null, at("10:00"))).toBe(false);
    expect(isExpired(at("10:00"), at("09:59"))).toBe(false);
    expect(isExpired(at("10:00"), at("10:00"))).toBe(true);
  });
  it("warns students within the warning window only", () => {
    const expires = new Date("2026-12-01T12:00:00Z");
    expect(expiryWarning(expires, new Date("2026-11-20T12:00:00Z"), 3)).toBeNull();
    expect(expiryWarning(expires, new Date("2026-11-29T12:00:00Z"), 3)).toMatch(/will be deleted in 2 days \(2026-12-01 12:00 UTC\)/);
    expect(expiryWarning(expires, new Date("2026-12-01T06:00:00Z"), 3)).toMatch(/in 6 hours/);
    expect(expiryWarning(expires, new Date("2026-12-02T00:00:00Z"), 3)).toMatch(/has expired/);
  });
  it("freezes once at the deadline", () => {
    expect(freezeDue(at("10:00"), null, at("09:59"))).toBe(false);
    expect(freezeDue(at("10:00"), null, at("10:00"))).toBe(true);
    expect(freezeDue(at("10:00"), at("10:00"), at("11:00"))).toBe(false);
  });
});
