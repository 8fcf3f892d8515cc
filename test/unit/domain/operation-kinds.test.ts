import { describe, expect, it } from "vitest";
import { OPERATION_KINDS, isOperationKind } from "../../../server/domain/operation-kinds.ts";
import { HANDLERS } from "../../../server/jobs/operations/handlers.ts";

describe("operation kinds", () => {
  it("every kind has exactly one handler, and nothing else has one", () => {
    expect(Object.keys(HANDLERS).sort()).toEqual([...OPERATION_KINDS].sort());
  });

  it("recognises stored kinds and refuses others (rows written by another version)", () => {
    expect(isOperationKind("create")).toBe(true);
    expect(isOperationKind("migrate")).toBe(true);
    expect(isOperationKind("evacuate")).toBe(false);
    expect(isOperationKind("toString")).toBe(false);
    expect(isOperationKind("")).toBe(false);
  });
});
