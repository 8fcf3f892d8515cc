/**
 * The VM state machine (pure): which user actions each state allows, and how libvirt's observed
 * state maps onto ours. "provisioning" and "deleting" belong to operations; "missing" means the
 * domain vanished from its host behind our back (shown, never silently deleted); "unknown" means its
 * host stopped answering (the guest may run on or not: nothing can be done to it until the host is
 * back, or an HA restart moves it).
 */
import { AppError } from "./errors.ts";

export type VmState = "provisioning" | "running" | "paused" | "stopped" | "error" | "deleting" | "missing" | "unknown" | "deleted";
export type VmAction = "start" | "shutdown" | "poweroff" | "reboot" | "pause" | "resume" | "delete" | "reset" | "revert" | "snapshot" | "migrate" | "resize";

export const VM_ACTIONS: readonly VmAction[] = ["start", "shutdown", "poweroff", "reboot", "pause", "resume", "delete", "reset", "revert", "snapshot", "migrate", "resize"];

const ALLOWED: Record<VmAction, readonly VmState[]> = {
  start: ["stopped"],
  shutdown: ["running"],
  poweroff: ["running", "paused"],
  reboot: ["running"],
  pause: ["running"],
  resume: ["paused"],
  delete: ["running", "paused", "stopped", "error", "missing"],
  // Class VMs: recreate the disk from the template; snapshot/revert a class checkpoint.
  reset: ["running", "paused", "stopped", "error"],
  revert: ["running", "paused", "stopped"],
  snapshot: ["running", "paused", "stopped"],
  // Live migration moves a guest that runs (or is paused) with its memory.
  migrate: ["running", "paused"],
  // Stopped: anything within quota; running: what the guest takes live (domain/resize.ts).
  resize: ["running", "paused", "stopped"],
};

export function actionAllowed(state: VmState, action: VmAction): boolean {
  return ALLOWED[action].includes(state);
}

/** Throws WRONG_STATE (412) naming the states that would allow the action. */
export function assertActionAllowed(state: VmState, action: VmAction): void {
  if (!actionAllowed(state, action)) {
    throw new AppError("WRONG_STATE", `cannot ${action} a VM that is ${state} (needs ${ALLOWED[action].join(" or ")})`, {
      state,
      allowed: ALLOWED[action],
    });
  }
}

/** libvirt's state (virDomainState name, or null when the domain does not exist) → vmdesk's state. */
export function stateFromObserved(observed: string | null): VmState {
  switch (observed) {
    case null:
      return "missing";
    case "running":
    case "blocked":
      return "running";
    case "paused":
    case "pmsuspended":
      return "paused";
    case "crashed":
      return "error";
    default: // shutoff, shutdown (in progress counts as still stopping → stopped once off), nostate
      return observed === "shutdown" ? "running" : "stopped";
  }
}

/**
 * The state to record after observing the host. While an operation owns the VM (provisioning,
 * deleting, or its domain is gone from the host) the operation decides; a VM whose creation failed
 * stays in error until deleted.
 */
export function nextState(current: VmState, observed: string | null, hasActiveOperation: boolean): VmState {
  if (current === "deleted") return current;
  if (hasActiveOperation && (current === "provisioning" || current === "deleting")) return current;
  // A domain that leaves its host while an operation owns the VM is that operation's doing (a live
  // migration undefines it on the source before the row names the destination): it records the outcome.
  if (hasActiveOperation && observed === null) return current;
  if (current === "error" && observed === null) return current;
  return stateFromObserved(observed);
}
