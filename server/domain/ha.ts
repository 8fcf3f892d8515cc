/**
 * High availability (pure rules). A VM marked `ha` is restarted on another host when its host goes
 * down; the rules here decide when a host counts as down, which VMs are due a restart and in which
 * order. What keeps a restart from ever running a second copy is not here but on the hosts: libvirt's
 * disk leases (lockd) refuse to start a disk another host still holds, and such a refusal means the
 * old host may still run the guest ("fencing required").
 */
import { AppError } from "./errors.ts";

/**
 * A host that stays disconnected this long is down: its VMs' state is unknown. Counted from the later
 * of its last answer and when it was first seen disconnected, so a short blip (a daemon restarting)
 * stays under the bar however long ago the last relist was.
 */
export const HA_DOWN_AFTER_MS = 3_000;
/** A restart that failed (no capacity, a lease still held) is tried again after this long. */
export const HA_RETRY_MS = 60_000;

export interface HaHost {
  enabled: boolean;
  state: "unknown" | "connected" | "disconnected";
  lastSeenAt: Date | null;
}

/**
 * Down: enabled, disconnected since `disconnectedSince` (when this process first saw it so), and not
 * heard from for `downAfterMs` since the later of that and its last answer. A host never seen
 * connected is not down in this sense (nothing is known to run there).
 */
export function hostIsDown(host: HaHost, disconnectedSince: Date, now: Date, downAfterMs = HA_DOWN_AFTER_MS): boolean {
  if (!host.enabled || host.state !== "disconnected" || host.lastSeenAt === null) return false;
  const silentSince = Math.max(host.lastSeenAt.getTime(), disconnectedSince.getTime());
  return now.getTime() - silentSince >= downAfterMs;
}

/** libvirt states in which the guest was alive when its host was last heard from. */
const ALIVE = new Set(["running", "blocked", "paused"]);

export interface HaVm {
  ha: boolean;
  haPriority: number;
  createdAt: Date;
  observedState: string | null;
  activeOperationId: string | null;
  haRestartAt: Date | null;
  deletedAt: Date | null;
}

/**
 * Due an HA restart now: marked `ha`, alive when its host was last heard from (a VM its owner had
 * stopped stays stopped), nothing else in progress, and no attempt in the last `retryMs`.
 */
export function dueForRestart(vm: HaVm, now: Date, retryMs = HA_RETRY_MS): boolean {
  if (!vm.ha || vm.deletedAt !== null || vm.activeOperationId !== null) return false;
  if (!ALIVE.has(vm.observedState ?? "")) return false;
  return vm.haRestartAt === null || now.getTime() - vm.haRestartAt.getTime() >= retryMs;
}

/**
 * HA priorities an owner (or a class's teacher) may give: 0–50. Above that is an admin's to give
 * (infrastructure first), so a tenant cannot put all their VMs ahead of everyone else's after a host
 * dies. A priority an admin gave stays when its owner toggles HA without naming one.
 */
export const OWNER_MAX_HA_PRIORITY = 50;

export function assertHaPriorityAllowed(isAdmin: boolean, requested: number | undefined, current: number): void {
  if (isAdmin || requested === undefined || requested === current || requested <= OWNER_MAX_HA_PRIORITY) return;
  throw new AppError("FORBIDDEN", `HA priorities above ${OWNER_MAX_HA_PRIORITY} are given by admins: choose 0–${OWNER_MAX_HA_PRIORITY}`, { field: "priority" });
}

/** Highest priority first; equal priorities oldest VM first (a stable, explainable order). */
export function restartOrder<T extends Pick<HaVm, "haPriority" | "createdAt">>(vms: readonly T[]): T[] {
  return [...vms].sort((a, b) => b.haPriority - a.haPriority || a.createdAt.getTime() - b.createdAt.getTime());
}

export function unknownStateMessage(hostName: string, lastSeenAt: Date | null): string {
  return `host ${hostName} has not answered since ${lastSeenAt?.toISOString() ?? "it was added"}: this VM's state is unknown until the host is back`;
}

export function fencingMessage(hostName: string, destName: string, retryS: number): string {
  return `fencing required: the restart on ${destName} was refused because the VM's disk lease is still held, so host ${hostName} may still run it. Power ${hostName} off (or bring its libvirt daemon back); the restart is retried every ${retryS} s`;
}
