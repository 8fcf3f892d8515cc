/**
 * Tenant snapshots (pure): names, the libvirt name behind each, what memory means in each VM state,
 * and the count quota. services/snapshot-service.ts applies these under the owner's quota row lock.
 */
import { AppError } from "./errors.ts";
import type { VmState } from "./vm-state.ts";

/** Shown to people and used as the REST path segment; also safe as a libvirt name once prefixed. */
export const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const SNAPSHOT_NAME_RULE = "1–63 characters: letters, digits, '_', '.', '-', starting with a letter or digit";

/**
 * The libvirt snapshot (and qcow2 internal snapshot tag) behind a tenant's snapshot. The prefix keeps
 * tenants' names apart from the class checkpoints and submissions libvirt keeps on the same disks.
 */
export function libvirtSnapshotName(name: string): string {
  if (!SNAPSHOT_NAME.test(name)) throw new AppError("BAD_REQUEST", `snapshot name must be ${SNAPSHOT_NAME_RULE}`, { field: "name" });
  return `u-${name}`;
}

/**
 * Whether a new snapshot keeps the guest's memory. Default: yes while the guest runs (a revert resumes
 * it where it was), no when it is stopped. A stopped VM has no memory to keep (412).
 *
 * Without memory, on a running VM: libvirt 9 cannot take an internal disk-only snapshot of a running
 * qcow2 guest, so the snapshot holds the memory anyway, and the revert ignores it — it leaves the VM
 * shut off with its disk as it was, as a disk-only snapshot would.
 */
export function snapshotKeepsMemory(state: VmState, requested: boolean | undefined): boolean {
  const running = state === "running" || state === "paused";
  if (requested === true && !running) {
    throw new AppError("WRONG_STATE", `a ${state} VM has no memory to keep: take the snapshot without memory, or start the VM first`, { state });
  }
  return requested ?? running;
}

/** Throws QUOTA_EXCEEDED (409) when one more snapshot would pass the owner's limit. */
export function assertSnapshotFits(limit: number, used: number): void {
  if (used + 1 > limit) {
    throw new AppError("QUOTA_EXCEEDED", `quota exceeded: snapshots limit ${limit}, in use ${used}, requested 1 (${Math.max(0, limit - used)} left)`, {
      excesses: [{ resource: "snapshots", limit, used, requested: 1 }],
    });
  }
}
