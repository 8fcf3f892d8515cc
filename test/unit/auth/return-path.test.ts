import { describe, expect, it } from "vitest";
import { safeReturnPath } from "../../../server/auth/return-path.ts";

const ORIGIN = "http://portal.example:3000";

/** Each of these, as a browser or a proxy would read it, leaves the portal (or hides that it might). */
const HOSTILE = [
  "//evil.example",
  "///evil.example",
  "/\\evil.example",
  "\\\\evil.example",
  "/.//evil.example",
  "/./\\evil.example",
  "/a/..//evil.example",
  "/..//evil.example",
  "https://evil.example/",
  "http:evil.example",
  "javascript:alert(1)",
  "JavaScript:alert(1)",
  "data:text/html,hi",
  "evil.example",
  " /vms",
  "/\t/evil.example",
  "/\n/evil.example",
  "/\r\n/evil.example",
  "/%2F%2Fevil.example",
  "/%2f/evil.example",
  "%2F%2Fevil.example",
  "/%5Cevil.example",
  "/%5cevil.example",
  "/%09/evil.example",
  "/%0a/evil.example",
  "/%0d%0a/evil.example",
  "/%00",
  "/%2e/%2fevil.example",
  "/%2E%2E%2F%2Fevil.example",
  "/%252F%252Fevil.example",
  "/%25252F%25252Fevil.example",
  "/%2525252F%2525252Fevil.example",
  "/%E0%A4%A",
  "/vms\\..\\..\\evil",
  "/x".repeat(2000),
];

describe("safeReturnPath", () => {
  it.each(HOSTILE)("sends %j home", (raw) => {
    expect(safeReturnPath(raw)).toBe("/");
    expect(safeReturnPath(raw, { sameOrigin: ORIGIN })).toBe("/");
  });

  it("keeps local paths with their query", () => {
    expect(safeReturnPath("/")).toBe("/");
    expect(safeReturnPath("/vms/3f1c")).toBe("/vms/3f1c");
    expect(safeReturnPath("/vms/3f1c?tab=console&x=1")).toBe("/vms/3f1c?tab=console&x=1");
    expect(safeReturnPath("/settings/tokens")).toBe("/settings/tokens");
    expect(safeReturnPath("/classes/a%20b")).toBe("/classes/a%20b");
    expect(safeReturnPath("/vms?next=//not-a-redirect")).toBe("/vms?next=//not-a-redirect");
  });

  it("resolves harmless dot segments but never into another origin", () => {
    expect(safeReturnPath("/a/../vms")).toBe("/vms");
    expect(safeReturnPath("/./vms")).toBe("/vms");
  });

  it("never returns to the sign-in page itself", () => {
    expect(safeReturnPath("/signin")).toBe("/");
    expect(safeReturnPath("/signin?callbackUrl=%2Fvms")).toBe("/");
  });

  it("treats missing, empty and non-string values as home; takes the first of repeated parameters", () => {
    expect(safeReturnPath(undefined)).toBe("/");
    expect(safeReturnPath("")).toBe("/");
    expect(safeReturnPath(42)).toBe("/");
    expect(safeReturnPath(["/vms", "//evil.example"])).toBe("/vms");
    expect(safeReturnPath(["//evil.example", "/vms"])).toBe("/");
  });

  it("admits absolute URLs of exactly the portal's origin when told it, reduced to their path", () => {
    expect(safeReturnPath(`${ORIGIN}/vms?x=1`, { sameOrigin: ORIGIN })).toBe("/vms?x=1");
    expect(safeReturnPath(`${ORIGIN}/vms`)).toBe("/");
    expect(safeReturnPath(`${ORIGIN}//evil.example`, { sameOrigin: ORIGIN })).toBe("/");
    expect(safeReturnPath(`${ORIGIN}/.//evil.example`, { sameOrigin: ORIGIN })).toBe("/");
    expect(safeReturnPath("http://portal.example:3001/vms", { sameOrigin: ORIGIN })).toBe("/");
    expect(safeReturnPath("https://portal.example:3000/vms", { sameOrigin: ORIGIN })).toBe("/");
    expect(safeReturnPath(`http://user@portal.example:3000@evil.example/`, { sameOrigin: ORIGIN })).toBe("/");
  });
});
