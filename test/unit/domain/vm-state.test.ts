import { describe, expect, it } from "vitest";
import { AppError } from "../../../server/domain/errors.ts";
import { actionAllowed, assertActionAllowed, nextState, stateFromObserved, VM_ACTIONS, type VmAction, type VmState } from "../../../server/domain/vm-state.ts";

const STATES: VmState[] = ["provisioning", "running", "paused", "stopped", "error", "deleting", "missing", "unknown", "deleted"];

/** Written out by hand: which actions each state allows. */
const ALLOWED: Record<VmState, VmAction[]> = {
  provisioning: [],
  // resize: what a state allows beyond that (live limits, shrinking) is domain/resize.ts's to say.
  running: ["shutdown", "poweroff", "reboot", "pause", "delete", "reset", "revert", "snapshot", "migrate", "resize"],
  paused: ["poweroff", "resume", "delete", "reset", "revert", "snapshot", "migrate", "resize"],
  stopped: ["start", "delete", "reset", "revert", "snapshot", "resize"],
  error: ["delete", "reset"],
  deleting: [],
  missing: ["delete"],
  // Its host does not answer: nothing can be done to it there (HA moves it, or the host comes back).
  unknown: [],
  deleted: [],
};

/** Every virDomainState name the driver reports (server/hypervisor/driver.ts DomainRunState). */
const OBSERVED: Array<[string | null, VmState]> = [
  ["nostate", "stopped"],
  ["running", "running"],
  ["blocked", "running"],
  ["paused", "paused"],
  ["shutdown", "running"],
  ["shutoff", "stopped"],
  ["crashed", "error"],
  ["pmsuspended", "paused"],
  [null, "missing"],
];

describe("actionAllowed", () => {
  it("knows exactly these actions", () => {
    expect([...VM_ACTIONS].sort()).toEqual(["delete", "migrate", "pause", "poweroff", "reboot", "reset", "resize", "resume", "revert", "shutdown", "snapshot", "start"]);
  });

  for (const state of STATES) {
    for (const action of VM_ACTIONS) {
      const expected = ALLOWED[state].includes(action);
      it(`${action} on a ${state} VM: ${expected ? "allowed" : "refused"}`, () => {
        expect(actionAllowed(state, action)).toBe(expected);
      });
    }
  }
});

describe("assertActionAllowed", () => {
  it("returns quietly for every allowed pair", () => {
    for (const state of STATES) for (const action of ALLOWED[state]) expect(() => assertActionAllowed(state, action)).not.toThrow();
  });

  it("throws AppError WRONG_STATE for every refused pair, with the states that would allow it", () => {
    let refused = 0;
    for (const state of STATES) {
      for (const action of VM_ACTIONS) {
        if (ALLOWED[state].includes(action)) continue;
        refused++;
        let caught: unknown;
        try {
          assertActionAllowed(state, action);
        } catch (err) {
          caught = err;
        }
        expect(caught, `${action} on ${state}`).toBeInstanceOf(AppError);
        const err = caught as AppError;
        expect(err.code).toBe("WRONG_STATE");
        expect(err.message).toContain(`cannot ${action} a VM that is ${state}`);
        const allowedIn = STATES.filter((s) => ALLOWED[s].includes(action));
        expect(err.details).toEqual({ state, allowed: allowedIn });
      }
    }
    expect(refused).toBe(STATES.length * VM_ACTIONS.length - Object.values(ALLOWED).flat().length);
  });

  it("names the allowing states in the message", () => {
    expect(() => assertActionAllowed("running", "resume")).toThrow("cannot resume a VM that is running (needs paused)");
    expect(() => assertActionAllowed("stopped", "poweroff")).toThrow("cannot poweroff a VM that is stopped (needs running or paused)");
  });
});

describe("stateFromObserved", () => {
  it.each(OBSERVED)("libvirt %j → %s", (observed, expected) => {
    expect(stateFromObserved(observed)).toBe(expected);
  });
});

describe("nextState", () => {
  it("a deleted VM stays deleted whatever is observed", () => {
    for (const [observed] of OBSERVED) {
      expect(nextState("deleted", observed, false)).toBe("deleted");
      expect(nextState("deleted", observed, true)).toBe("deleted");
    }
  });

  it("while an operation is active, provisioning and deleting belong to it", () => {
    for (const [observed] of OBSERVED) {
      expect(nextState("provisioning", observed, true)).toBe("provisioning");
      expect(nextState("deleting", observed, true)).toBe("deleting");
    }
  });

  it("without an active operation, provisioning and deleting follow the host", () => {
    for (const [observed, derived] of OBSERVED) {
      expect(nextState("provisioning", observed, false)).toBe(derived);
      expect(nextState("deleting", observed, false)).toBe(derived);
    }
  });

  it("an errored VM whose domain is gone stays in error (not missing), with or without an operation", () => {
    expect(nextState("error", null, false)).toBe("error");
    expect(nextState("error", null, true)).toBe("error");
  });

  it("an errored VM whose domain exists follows the host", () => {
    expect(nextState("error", "running", false)).toBe("running");
    expect(nextState("error", "shutoff", false)).toBe("stopped");
    expect(nextState("error", "crashed", false)).toBe("error");
  });

  it("settled states follow the host, even during an operation (start, shutdown, ...), unless the domain left it", () => {
    for (const current of ["running", "paused", "stopped", "missing"] as const) {
      for (const [observed, derived] of OBSERVED) {
        expect(nextState(current, observed, false), `${current} ${observed}`).toBe(derived);
        expect(nextState(current, observed, true), `${current} ${observed} active`).toBe(observed === null ? current : derived);
      }
    }
  });

  it("a domain leaving its host during an operation (a live migration) leaves the state to the operation", () => {
    expect(nextState("running", null, true)).toBe("running");
    expect(nextState("paused", null, true)).toBe("paused");
    expect(nextState("running", null, false)).toBe("missing");
  });

  it("a vanished domain turns a running VM missing, and a reappearing one brings it back", () => {
    expect(nextState("running", null, false)).toBe("missing");
    expect(nextState("missing", "shutoff", false)).toBe("stopped");
  });
});
