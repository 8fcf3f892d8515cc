import { describe, expect, it } from "vitest";
import { describeRosterErrors, parseRoster, ROSTER_MAX_LINE_CHARS, ROSTER_MAX_STUDENTS, rosterTooLarge } from "../../../server/domain/classroom.ts";

describe("roster bounds", () => {
  it("at most ROSTER_MAX_STUDENTS students per request", () => {
    expect(ROSTER_MAX_STUDENTS).toBe(500);
    expect(rosterTooLarge(500)).toBeNull();
    expect(rosterTooLarge(501)).toBe("at most 500 students per request (got 501): paste the roster in parts");
  });

  it("an over-long line is an error of its own, not parsed", () => {
    const r = parseRoster(`ok1,Fine\nlong1,${"x".repeat(ROSTER_MAX_LINE_CHARS)}`);
    expect(r.rows.map((x) => x.username)).toEqual(["ok1"]);
    expect(r.errors).toEqual([{ line: 2, message: `longer than ${ROSTER_MAX_LINE_CHARS} characters` }]);
  });

  it("names are bounded and free of control characters", () => {
    expect(parseRoster(`n1,${"y".repeat(101)}`).errors[0]?.message).toMatch(/at most 100 characters/);
    expect(parseRoster("n2,bell\u0007name").errors[0]?.message).toMatch(/control characters/);
    expect(parseRoster("n3,Ada Lovelace,ada@example.org").rows).toEqual([{ username: "n3", displayName: "Ada Lovelace", email: "ada@example.org" }]);
  });

  it("a hostile paste yields a bounded message", () => {
    const r = parseRoster(Array.from({ length: 300 }, () => "!").join("\n"));
    expect(r.errors).toHaveLength(300);
    const message = describeRosterErrors(r.errors);
    expect(message).toMatch(/; … and 280 more$/);
    expect(message.length).toBeLessThan(2000);
  });
});
