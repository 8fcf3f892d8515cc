import { describe, expect, it } from "vitest";
import { newSessionClaims, readSessionClaims, withinAbsoluteLifetime } from "../../../server/auth/session-claims.ts";

const EIGHT_HOURS = 8 * 3600;
const signIn = new Date("2026-12-05T08:00:00Z");
const at = (offsetS: number) => new Date(signIn.getTime() + offsetS * 1000);

describe("session claims", () => {
  it("round-trip through a JWT's payload", () => {
    const jwt = { name: "alice", iat: 1, exp: 2, ...newSessionClaims("u-1", 3, signIn) };
    expect(readSessionClaims(jwt)).toEqual({ userId: "u-1", sessionVersion: 3, authTime: signIn.getTime() / 1000 });
  });

  it("are refused when missing or malformed (a cookie from before sessions carried them)", () => {
    expect(readSessionClaims(null)).toBeNull();
    expect(readSessionClaims({ uid: "u-1" })).toBeNull();
    expect(readSessionClaims({ uid: "u-1", sv: "3", authTime: 1 })).toBeNull();
    expect(readSessionClaims({ uid: "u-1", sv: 3 })).toBeNull();
    expect(readSessionClaims({ uid: "", sv: 0, authTime: 1 })).toBeNull();
    expect(readSessionClaims({ uid: "u-1", sv: 0.5, authTime: 1 })).toBeNull();
  });

  it("last exactly the absolute lifetime from sign-in, however often the cookie was refreshed", () => {
    const claims = readSessionClaims(newSessionClaims("u-1", 0, signIn))!;
    expect(withinAbsoluteLifetime(claims, at(0), EIGHT_HOURS)).toBe(true);
    expect(withinAbsoluteLifetime(claims, at(EIGHT_HOURS - 1), EIGHT_HOURS)).toBe(true);
    expect(withinAbsoluteLifetime(claims, at(EIGHT_HOURS), EIGHT_HOURS)).toBe(false);
    expect(withinAbsoluteLifetime(claims, at(30 * 86_400), EIGHT_HOURS)).toBe(false);
  });

  it("tolerate a minute of clock skew between instances, not a sign-in time far in the future", () => {
    const claims = readSessionClaims(newSessionClaims("u-1", 0, signIn))!;
    expect(withinAbsoluteLifetime(claims, at(-30), EIGHT_HOURS)).toBe(true);
    expect(withinAbsoluteLifetime(claims, at(-3600), EIGHT_HOURS)).toBe(false);
  });
});
