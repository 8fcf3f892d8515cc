import { describe, expect, it } from "vitest";
import { fleetState } from "../../../server/domain/host-state.ts";

const base = { enabled: true, maintenance: false, state: "connected" as const, lastError: null };

describe("fleetState", () => {
  it.each([
    [base, "up"],
    [{ ...base, lastError: "storage pool vmdesk: not active" }, "degraded"],
    [{ ...base, state: "disconnected" as const, lastError: "keepalive" }, "down"],
    [{ ...base, state: "unknown" as const }, "down"],
    [{ ...base, maintenance: true }, "maintenance"],
    [{ ...base, maintenance: true, state: "disconnected" as const }, "maintenance"],
    [{ ...base, enabled: false, maintenance: true }, "disabled"],
  ])("%o is %s", (host, expected) => {
    expect(fleetState(host)).toBe(expected);
  });
});
