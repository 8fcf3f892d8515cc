/**
 * Resizing a VM (pure): what may change in which state, and what it costs. Stopped, a VM takes any
 * size within quota (its definition is rewritten). Running, it takes what a guest takes live: more
 * vCPUs by hot-plug up to the maximum set at create, memory through the balloon up to the maximum
 * set at create, and a bigger disk (QEMU grows the image and tells the guest). Fewer vCPUs need a
 * stop (hot-unplug needs the guest's cooperation and libvirt 9's legacy vCPUs cannot). Disks only
 * grow: a shrink would cut the guest's file systems.
 */
import { AppError } from "./errors.ts";
import type { ResourceAmounts } from "./quota.ts";
import { assertActionAllowed, type VmState } from "./vm-state.ts";

/** The least memory a guest gets (the demo guest needs 80 MiB; the balloon must leave it room). */
export const MIN_MEMORY_MIB = 96;

export interface ResizeSubject {
  state: VmState;
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
  maxVcpus: number | null;
  maxMemoryMiB: number | null;
}

export interface ResizeRequest {
  vcpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
}

export interface Size {
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
}

export interface ResizePlan {
  from: Size;
  to: Size;
  /** What the owner's ledger changes by (negative: returned). */
  delta: ResourceAmounts;
  /** The guest runs: the change is made live (and in its definition). */
  live: boolean;
}

/** `tuningChanges`: a change of flavor whose tuning differs (checked by domain/flavor.ts) is a change even at the same size. */
export function planResize(vm: ResizeSubject, req: ResizeRequest, opts: { tuningChanges?: boolean } = {}): ResizePlan {
  const from: Size = { vcpus: vm.vcpus, memoryMiB: vm.memoryMiB, diskGiB: vm.diskGiB };
  const to: Size = { vcpus: req.vcpus ?? vm.vcpus, memoryMiB: req.memoryMiB ?? vm.memoryMiB, diskGiB: req.diskGiB ?? vm.diskGiB };
  if (to.diskGiB < from.diskGiB) {
    throw new AppError("BAD_REQUEST", `disks only grow: this disk is ${from.diskGiB} GiB, and shrinking it to ${to.diskGiB} GiB would cut off the guest's file systems`, { field: "diskGiB" });
  }
  if (to.memoryMiB < MIN_MEMORY_MIB) throw new AppError("BAD_REQUEST", `memoryMiB must be at least ${MIN_MEMORY_MIB}`, { field: "memoryMiB" });
  if (to.vcpus === from.vcpus && to.memoryMiB === from.memoryMiB && to.diskGiB === from.diskGiB && !opts.tuningChanges) {
    throw new AppError("BAD_REQUEST", "nothing to change: the VM already has this size");
  }
  assertActionAllowed(vm.state, "resize");
  const live = vm.state !== "stopped";
  if (live) {
    const maxVcpus = vm.maxVcpus ?? vm.vcpus;
    const maxMemoryMiB = vm.maxMemoryMiB ?? vm.memoryMiB;
    if (to.vcpus < from.vcpus) throw new AppError("WRONG_STATE", "fewer vCPUs need the VM stopped (a running guest only takes more)", { state: vm.state });
    if (to.vcpus > maxVcpus) throw new AppError("WRONG_STATE", `a running VM takes at most ${maxVcpus} vCPUs (its maximum, set at create): stop it to go beyond`, { state: vm.state });
    if (to.memoryMiB > maxMemoryMiB) throw new AppError("WRONG_STATE", `a running VM takes at most ${maxMemoryMiB} MiB (its maximum, set at create): stop it to go beyond`, { state: vm.state });
  }
  return {
    from,
    to,
    delta: { vms: 0, vcpus: to.vcpus - from.vcpus, memoryMiB: to.memoryMiB - from.memoryMiB, diskGiB: to.diskGiB - from.diskGiB },
    live,
  };
}
