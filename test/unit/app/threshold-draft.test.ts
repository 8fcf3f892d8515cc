import { describe, expect, it } from "vitest";
import { draftFrom, parseDraft } from "../../../app/admin/fleet/threshold-draft.ts";

describe("per-host thresholds form", () => {
  it("shows each override as text, and nothing where the host uses the global value", () => {
    expect(draftFrom({ cpu: { abovePct: 70 }, disk: { windowS: 120 } })).toEqual({
      cpu: { abovePct: "70", windowS: "" },
      memory: { abovePct: "", windowS: "" },
      disk: { abovePct: "", windowS: "120" },
    });
    expect(draftFrom({})).toEqual({ cpu: { abovePct: "", windowS: "" }, memory: { abovePct: "", windowS: "" }, disk: { abovePct: "", windowS: "" } });
  });

  it("reads back what it shows; empty fields are no override (the whole object is sent: PATCH replaces it)", () => {
    const overrides = { cpu: { abovePct: 70, windowS: 30 }, memory: { abovePct: 92.5 } };
    expect(parseDraft(draftFrom(overrides))).toEqual({ overrides, errors: {} });
    expect(parseDraft(draftFrom({}))).toEqual({ overrides: {}, errors: {} });
    const cleared = draftFrom(overrides);
    cleared.cpu = { abovePct: "", windowS: "" };
    expect(parseDraft(cleared).overrides).toEqual({ memory: { abovePct: 92.5 } });
  });

  it("names what is wrong per field, with the API's bounds, and keeps the valid rest out of nothing", () => {
    const d = draftFrom({});
    d.cpu.abovePct = "0";
    d.cpu.windowS = "1.5";
    d.memory.abovePct = "101";
    d.memory.windowS = "86401";
    d.disk.abovePct = "abc";
    d.disk.windowS = " 60 ";
    const { overrides, errors } = parseDraft(d);
    expect(errors).toEqual({
      "cpu.abovePct": "must be 1–100 %",
      "cpu.windowS": "must be a whole number",
      "memory.abovePct": "must be 1–100 %",
      "memory.windowS": "must be 1–86400 s",
      "disk.abovePct": "must be a number",
    });
    expect(overrides).toEqual({ disk: { windowS: 60 } });
  });

  it("accepts the bounds themselves", () => {
    const d = draftFrom({});
    d.cpu = { abovePct: "1", windowS: "1" };
    d.memory = { abovePct: "100", windowS: "86400" };
    expect(parseDraft(d)).toEqual({ overrides: { cpu: { abovePct: 1, windowS: 1 }, memory: { abovePct: 100, windowS: 86_400 } }, errors: {} });
  });
});
