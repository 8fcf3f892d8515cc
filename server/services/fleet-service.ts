/**
 * The fleet as placement sees it (domain/placement.ts decides; this loads and locks). Every caller that
 * places VMs does it inside its transaction after `lockPlacement`, so two creates can never both count
 * the same free memory: placements are serialised for the few milliseconds between reading the
 * hosts' allocations and inserting the VM rows that change them.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Db, Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { choosePcpus, freePcpus } from "../domain/flavor.ts";
import { fleetState } from "../domain/host-state.ts";
import { inSharedPool, sharesPool } from "../domain/shared-storage.ts";
import { growthRefusal, type HostRefusal, type PlacementHost, type PlacementRequest, type PlacementResult } from "../domain/placement.ts";

type PlacementImage = PlacementRequest["image"];

/** VM states that hold their host's capacity (a deleted, failed or vanished VM holds nothing). */
export const HOLDING_STATES = ["provisioning", "running", "paused", "stopped", "deleting"] as const;

const hostFleetSelect = {
  id: true,
  name: true,
  enabled: true,
  maintenance: true,
  state: true,
  lastError: true,
  cpus: true,
  memoryMiB: true,
  diskFreeGiB: true,
  cpuRatio: true,
  memoryRatio: true,
  reservedMemoryMiB: true,
  labels: true,
  poolName: true,
  poolPath: true,
  poolShared: true,
  reservedCpus: true,
  hugepages: true,
} as const satisfies Prisma.HostSelect;

export interface HostAllocation {
  vms: number;
  vcpus: number;
  memoryMiB: number;
  /** Disk promised to VMs still being created (their overlays have not grown into it yet). */
  pendingDiskGiB: number;
}

/** Takes the placement lock for the rest of the transaction. */
export async function lockPlacement(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('vmdesk.placement'))`;
}

/** What the live VMs on each host hold (and those migrating to it), two grouped queries. */
export async function hostAllocations(tx: Tx | Db, hostIds?: string[]): Promise<Map<string, HostAllocation>> {
  const rows = await tx.vm.groupBy({
    by: ["hostId", "state"],
    where: { deletedAt: null, state: { in: [...HOLDING_STATES] }, ...(hostIds ? { hostId: { in: hostIds } } : {}) },
    _count: { _all: true },
    _sum: { vcpus: true, memoryMiB: true, diskGiB: true },
  });
  // A VM on its way to another host holds capacity on both until it lands.
  const incoming = await tx.vm.groupBy({
    by: ["targetHostId"],
    where: { deletedAt: null, state: { in: [...HOLDING_STATES] }, targetHostId: hostIds ? { in: hostIds } : { not: null } },
    _count: { _all: true },
    _sum: { vcpus: true, memoryMiB: true, diskGiB: true },
  });
  const out = new Map<string, HostAllocation>();
  for (const r of incoming) {
    if (!r.targetHostId) continue;
    out.set(r.targetHostId, { vms: r._count._all, vcpus: r._sum.vcpus ?? 0, memoryMiB: r._sum.memoryMiB ?? 0, pendingDiskGiB: r._sum.diskGiB ?? 0 });
  }
  for (const r of rows) {
    const a = out.get(r.hostId) ?? { vms: 0, vcpus: 0, memoryMiB: 0, pendingDiskGiB: 0 };
    a.vms += r._count._all;
    a.vcpus += r._sum.vcpus ?? 0;
    a.memoryMiB += r._sum.memoryMiB ?? 0;
    if (r.state === "provisioning") a.pendingDiskGiB += r._sum.diskGiB ?? 0;
    out.set(r.hostId, a);
  }
  return out;
}

function labelsOf(value: Prisma.JsonValue): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/**
 * Every host as a placement candidate for VMs of one image, and the image as placement sees it. A
 * host has the image when it is the image's own host, when the image lies on shared storage, or
 * when a verified copy is in its pool; elsewhere it is copied on first use (server/jobs/image-copy)
 * as long as the image's own host is reachable. Memory offered is what the host has minus its
 * reserve; a host whose capacity was never measured counts as `down`.
 *
 * `sameImagePathAs` (a live migration from that host): only hosts where the image is at the same
 * path qualify (also a copy in a pool both hosts share), because the moving disk's overlay names its
 * backing file by path; no copy is made.
 */
export async function loadFleet(
  tx: Tx | Db,
  image: { id: string; name: string; hostId: string; shared: boolean; path?: string },
  opts: { sameImagePathAs?: string } = {},
): Promise<{ hosts: PlacementHost[]; image: PlacementImage }> {
  const [hosts, allocations, replicas, pcpusTaken, pagesHeld] = await Promise.all([
    tx.host.findMany({ select: hostFleetSelect, orderBy: { name: "asc" } }),
    hostAllocations(tx),
    tx.imageReplica.findMany({ where: { imageId: image.id, state: "ready" }, select: { hostId: true, path: true } }),
    takenPcpus(tx),
    hugepagesHeld(tx),
  ]);
  const ownPath = image.path ?? "";
  const pathOn = new Map<string, string>(replicas.map((r) => [r.hostId, r.path ?? ""]));
  const imagePath = (hostId: string): string | undefined => (image.shared || image.hostId === hostId ? ownPath : pathOn.get(hostId));
  const source = opts.sameImagePathAs === undefined ? undefined : hosts.find((h) => h.id === opts.sameImagePathAs);
  const sourcePath = source ? imagePath(source.id) : undefined;
  const hasImage = (h: (typeof hosts)[number]): boolean => {
    if (opts.sameImagePathAs === undefined) return imagePath(h.id) !== undefined;
    if (image.shared || (sourcePath !== undefined && imagePath(h.id) === sourcePath)) return true;
    // A copy in a pool both hosts share is read at the same path there.
    return source !== undefined && sourcePath !== undefined && sharesPool(source, h) && inSharedPool(source, sourcePath);
  };
  const withImage = new Set([image.id]);
  const without = new Set<string>();
  const fleet = hosts.map((h) => {
    const a = allocations.get(h.id);
    // Not measured yet (the monitor reads a host's facts on its first relist): nothing to offer.
    const measured = h.cpus !== null && h.cpus > 0 && h.memoryMiB !== null && h.memoryMiB > 0;
    return {
      id: h.id,
      name: h.name,
      state: measured ? fleetState(h) : "down",
      cpus: measured ? h.cpus! : 1,
      memoryMiB: measured ? Math.max(1, h.memoryMiB! - h.reservedMemoryMiB) : 1,
      diskFreeGiB: h.diskFreeGiB ?? 0,
      cpuRatio: h.cpuRatio,
      memoryRatio: h.memoryRatio,
      allocated: { vcpus: a?.vcpus ?? 0, memoryMiB: a?.memoryMiB ?? 0, diskGiB: a?.pendingDiskGiB ?? 0 },
      labels: labelsOf(h.labels),
      images: hasImage(h) ? withImage : without,
      freePcpus: measured ? freePcpus(h.cpus!, h.reservedCpus, pcpusTaken.get(h.id) ?? new Set()).length : 0,
      hugepages: availableHugepages(h.hugepages, pagesHeld.get(h.id)),
    } satisfies PlacementHost;
  });
  // Copied from its own host, which must answer: a host that is down, disabled or never measured cannot serve it.
  const home = fleet.find((h) => h.id === image.hostId);
  const copyable = opts.sameImagePathAs === undefined && !image.shared && home !== undefined && (home.state === "up" || home.state === "degraded" || home.state === "maintenance");
  return { hosts: fleet, image: { id: image.id, name: image.name, copyable } };
}

/**
 * A resize's growth on the VM's own host (call under lockPlacement, in the transaction that records
 * the new size): 409 with placement's reason when the host lacks the room. Stopped VMs hold their
 * size too, so this applies to every state. The image plays no part: the VM is on the host already.
 */
export async function assertHostRoomForGrowth(tx: Tx, vm: { hostId: string; imageId: string | null }, grow: { vcpus: number; memoryMiB: number; diskGiB: number }): Promise<void> {
  if (grow.vcpus <= 0 && grow.memoryMiB <= 0 && grow.diskGiB <= 0) return;
  const { hosts } = await loadFleet(tx, { id: vm.imageId ?? NIL_UUID, name: "", hostId: vm.hostId, shared: true });
  const host = hosts.find((h) => h.id === vm.hostId);
  if (!host) throw new AppError("CONFLICT", "the VM's host is not known");
  const refusal = growthRefusal(host, grow);
  if (refusal) throw new AppError("CONFLICT", `the VM's host has no room for this size: ${refusal}`, { refusals: [{ host: host.name, reason: refusal }] });
}

const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/** One line per refused host, for error messages and previews. */
export function describeRefusals(refusals: readonly HostRefusal[]): string {
  return refusals.map((r) => r.reason).join("; ");
}

/** The chosen host, or 409 naming every host and why it could not take the VM. */
export function chosenHostOrThrow(result: PlacementResult): { hostId: string; hostName: string } {
  if (result.ok) return { hostId: result.hostId, hostName: result.hostName };
  throw new AppError("CONFLICT", `${result.message}: ${describeRefusals(result.refusals)}`, {
    refusals: result.refusals.map((r) => ({ host: r.hostName, reason: r.reason })),
  });
}

/** The dedicated pCPUs held on each host (CpuAllocation rows). */
async function takenPcpus(tx: Tx | Db, hostId?: string): Promise<Map<string, Set<number>>> {
  const rows = await tx.cpuAllocation.findMany({ where: hostId ? { hostId } : {}, select: { hostId: true, pcpu: true } });
  const out = new Map<string, Set<number>>();
  for (const r of rows) out.set(r.hostId, (out.get(r.hostId) ?? new Set()).add(r.pcpu));
  return out;
}

interface PagesHeld {
  /** Pages promised to every holding VM placed here (or moving here), per size. */
  all: Map<number, number>;
  /** Of those, the VMs not started yet: the monitor's free count does not know them. */
  pending: Map<number, number>;
}

/** Huge pages the VMs of hugepage flavors hold, per host and page size. */
async function hugepagesHeld(tx: Tx | Db): Promise<Map<string, PagesHeld>> {
  const vms = await tx.vm.findMany({
    where: { deletedAt: null, state: { in: [...HOLDING_STATES] }, flavor: { hugepagesKiB: { not: null } } },
    select: { hostId: true, targetHostId: true, state: true, memoryMiB: true, maxMemoryMiB: true, flavor: { select: { hugepagesKiB: true } } },
  });
  const out = new Map<string, PagesHeld>();
  const add = (hostId: string, size: number, pages: number, pending: boolean) => {
    const held = out.get(hostId) ?? { all: new Map(), pending: new Map() };
    held.all.set(size, (held.all.get(size) ?? 0) + pages);
    if (pending) held.pending.set(size, (held.pending.get(size) ?? 0) + pages);
    out.set(hostId, held);
  };
  for (const vm of vms) {
    const size = vm.flavor!.hugepagesKiB!;
    const pages = Math.ceil((Math.max(vm.memoryMiB, vm.maxMemoryMiB ?? 0) * 1024) / size);
    add(vm.hostId, size, pages, vm.state === "provisioning");
    if (vm.targetHostId) add(vm.targetHostId, size, pages, true);
  }
  return out;
}

/**
 * What a host can still promise of each page size: the free pages the monitor last read, less those
 * of VMs not started yet, and never more than the pool less every page promised (a stopped VM keeps
 * its promise, so it can start again). Both bounds hold; the smaller wins.
 */
function availableHugepages(reported: Prisma.JsonValue, held: PagesHeld | undefined): Array<{ sizeKiB: number; free: number }> {
  if (!Array.isArray(reported)) return [];
  return reported.flatMap((p) => {
    if (p === null || typeof p !== "object" || Array.isArray(p)) return [];
    const { sizeKiB, total, free } = p as { sizeKiB?: unknown; total?: unknown; free?: unknown };
    if (typeof sizeKiB !== "number" || typeof total !== "number" || typeof free !== "number") return [];
    const available = Math.min(free - (held?.pending.get(sizeKiB) ?? 0), total - (held?.all.get(sizeKiB) ?? 0));
    return [{ sizeKiB, free: Math.max(0, available) }];
  });
}

/**
 * Gives the VM `count` dedicated pCPUs on `hostId` (the lowest free ones); call under the placement
 * lock in the transaction that places the VM, after placement said the host has them. The primary
 * key (hostId, pcpu) makes a double allocation fail the transaction instead of sharing a pCPU.
 */
export async function allocatePcpus(tx: Tx, hostId: string, vmId: string, count: number): Promise<number[]> {
  const host = await tx.host.findUniqueOrThrow({ where: { id: hostId }, select: { name: true, cpus: true, reservedCpus: true } });
  const taken = (await takenPcpus(tx, hostId)).get(hostId) ?? new Set<number>();
  const chosen = choosePcpus(host.cpus ?? 0, host.reservedCpus, taken, count);
  if (!chosen) {
    const free = freePcpus(host.cpus ?? 0, host.reservedCpus, taken).length;
    throw new AppError("CONFLICT", `host "${host.name}": dedicated pCPUs ${free} free (needs ${count})`);
  }
  await tx.cpuAllocation.createMany({ data: chosen.map((pcpu) => ({ hostId, pcpu, vmId })) });
  return chosen;
}

/** Returns every pCPU the VM holds (deleted, moved, or no longer dedicated). */
export async function releasePcpus(tx: Tx | Db, vmId: string): Promise<void> {
  await tx.cpuAllocation.deleteMany({ where: { vmId } });
}

/**
 * Reconciliation: pCPUs held by VMs that hold nothing any more (deleted, failed, vanished), that
 * moved to another host, or whose flavor is no longer dedicated. Returns how many were freed.
 */
export async function releaseStaleCpuAllocations(db: Tx | Db): Promise<number> {
  return db.$executeRaw`
    DELETE FROM "CpuAllocation" a USING "Vm" v LEFT JOIN "Flavor" f ON f.id = v."flavorId"
    WHERE a."vmId" = v.id
      AND (v."deletedAt" IS NOT NULL OR NOT (v.state::text = ANY(${[...HOLDING_STATES]}))
           OR v."hostId" <> a."hostId" OR f.id IS NULL OR NOT f."dedicatedCpus")`;
}
