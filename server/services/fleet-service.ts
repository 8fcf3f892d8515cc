/**
 * The fleet as placement sees it (domain/placement.ts decides; this loads and locks). Every caller that
 * places VMs does it inside its transaction after `lockPlacement`, so two creates can never both count
 * the same free memory: placements are serialised for the few milliseconds between reading the
 * hosts' allocations and inserting the VM rows that change them.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Db, Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { fleetState } from "../domain/host-state.ts";
import { inSharedPool, sharesPool } from "../domain/shared-storage.ts";
import type { HostRefusal, PlacementHost, PlacementRequest, PlacementResult } from "../domain/placement.ts";

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
  const [hosts, allocations, replicas] = await Promise.all([
    tx.host.findMany({ select: hostFleetSelect, orderBy: { name: "asc" } }),
    hostAllocations(tx),
    tx.imageReplica.findMany({ where: { imageId: image.id, state: "ready" }, select: { hostId: true, path: true } }),
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
    } satisfies PlacementHost;
  });
  // Copied from its own host, which must answer: a host that is down, disabled or never measured cannot serve it.
  const home = fleet.find((h) => h.id === image.hostId);
  const copyable = opts.sameImagePathAs === undefined && !image.shared && home !== undefined && (home.state === "up" || home.state === "degraded" || home.state === "maintenance");
  return { hosts: fleet, image: { id: image.id, name: image.name, copyable } };
}

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
