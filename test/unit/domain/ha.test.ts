import { describe, expect, it } from "vitest";
import { dueForRestart, fencingMessage, HA_DOWN_AFTER_MS, HA_RETRY_MS, hostIsDown, restartOrder, type HaHost, type HaVm } from "../../../server/domain/ha.ts";

const NOW = new Date("2026-12-06T12:00:00Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms);

describe("hostIsDown", () => {
  const host = (over: Partial<HaHost> = {}): HaHost => ({ enabled: true, state: "disconnected", lastSeenAt: ago(60_000), ...over });

  it("needs disconnected, enabled and silent for the whole grace since it was first seen disconnected", () => {
    expect(hostIsDown(host(), ago(HA_DOWN_AFTER_MS), NOW)).toBe(true);
    expect(hostIsDown(host(), ago(HA_DOWN_AFTER_MS - 1), NOW)).toBe(false);
    expect(hostIsDown(host({ state: "connected" }), ago(60_000), NOW)).toBe(false);
    expect(hostIsDown(host({ enabled: false }), ago(60_000), NOW)).toBe(false);
  });

  it("a blip right after a long quiet spell is not down: the grace counts from the disconnect, not from the last relist", () => {
    expect(hostIsDown(host({ lastSeenAt: ago(30_000) }), ago(500), NOW)).toBe(false);
  });

  it("a host that answered after it was first seen disconnected (a reconnect between ticks) gets the grace again", () => {
    expect(hostIsDown(host({ lastSeenAt: ago(1_000) }), ago(10_000), NOW)).toBe(false);
  });

  it("a host never seen connected is not down: nothing is known to run there", () => {
    expect(hostIsDown(host({ lastSeenAt: null }), ago(60_000), NOW)).toBe(false);
    expect(hostIsDown(host({ state: "unknown", lastSeenAt: null }), ago(60_000), NOW)).toBe(false);
  });
});

const vm = (over: Partial<HaVm> = {}): HaVm => ({
  ha: true,
  haPriority: 0,
  createdAt: ago(3_600_000),
  observedState: "running",
  activeOperationId: null,
  haRestartAt: null,
  deletedAt: null,
  ...over,
});

describe("dueForRestart", () => {
  it("an HA VM that was alive (running, blocked, paused) is due", () => {
    for (const observedState of ["running", "blocked", "paused"]) expect(dueForRestart(vm({ observedState }), NOW), observedState).toBe(true);
  });

  it("a VM stopped by its owner, not HA, deleted or busy with an operation is not", () => {
    expect(dueForRestart(vm({ observedState: "shutoff" }), NOW)).toBe(false);
    expect(dueForRestart(vm({ observedState: null }), NOW)).toBe(false);
    expect(dueForRestart(vm({ ha: false }), NOW)).toBe(false);
    expect(dueForRestart(vm({ deletedAt: ago(1) }), NOW)).toBe(false);
    expect(dueForRestart(vm({ activeOperationId: "op" }), NOW)).toBe(false);
  });

  it("a failed attempt is retried only after the retry interval", () => {
    expect(dueForRestart(vm({ haRestartAt: ago(HA_RETRY_MS - 1) }), NOW)).toBe(false);
    expect(dueForRestart(vm({ haRestartAt: ago(HA_RETRY_MS) }), NOW)).toBe(true);
    expect(dueForRestart(vm({ haRestartAt: ago(5_000) }), NOW, 5_000)).toBe(true);
  });
});

describe("restartOrder", () => {
  it("highest priority first, then the oldest VM", () => {
    const a = { id: "a", haPriority: 0, createdAt: ago(3) };
    const b = { id: "b", haPriority: 10, createdAt: ago(1) };
    const c = { id: "c", haPriority: 10, createdAt: ago(2) };
    const d = { id: "d", haPriority: 0, createdAt: ago(4) };
    expect(restartOrder([a, b, c, d]).map((v) => v.id)).toEqual(["c", "b", "d", "a"]);
  });
});

describe("fencingMessage", () => {
  it("names both hosts, what to do and when it is retried", () => {
    const m = fencingMessage("lab1", "lab2", 60);
    expect(m).toMatch(/^fencing required/);
    expect(m).toContain("lab2");
    expect(m).toContain("Power lab1 off");
    expect(m).toContain("every 60 s");
  });
});

describe("HA priority: owners choose 0–50, admins above", () => {
  it("refuses an owner's priority above 50, unless it is the one an admin already gave", async () => {
    const { assertHaPriorityAllowed, OWNER_MAX_HA_PRIORITY } = await import("../../../server/domain/ha.ts");
    expect(OWNER_MAX_HA_PRIORITY).toBe(50);
    expect(() => assertHaPriorityAllowed(false, 50, 0)).not.toThrow();
    expect(() => assertHaPriorityAllowed(false, 51, 0)).toThrow(expect.objectContaining({ code: "FORBIDDEN", message: expect.stringContaining("0–50") }));
    expect(() => assertHaPriorityAllowed(false, 100, 0)).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
    expect(() => assertHaPriorityAllowed(false, undefined, 90)).not.toThrow();
    expect(() => assertHaPriorityAllowed(false, 90, 90)).not.toThrow();
    expect(() => assertHaPriorityAllowed(true, 100, 0)).not.toThrow();
  });
});
