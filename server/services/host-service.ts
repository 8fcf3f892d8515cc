/** Hypervisor hosts (admin). Rows carry the libvirt URI and per-host settings; monitors fill in health. */
import { Prisma } from "../../prisma/generated/client.ts";
import { config } from "../config.ts";
import { AppError } from "../domain/errors.ts";
import { fleetState } from "../domain/host-state.ts";
import { isPathInside, parseHostUri } from "../domain/host-uri.ts";
import { authorize } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { hostAllocations } from "./fleet-service.ts";

export const hostSelect = {
  id: true,
  name: true,
  uri: true,
  domainType: true,
  cpuMode: true,
  poolName: true,
  poolPath: true,
  poolShared: true,
  enabled: true,
  maintenance: true,
  cpuRatio: true,
  memoryRatio: true,
  reservedMemoryMiB: true,
  reservedCpus: true,
  labels: true,
  state: true,
  lastSeenAt: true,
  lastError: true,
  hostname: true,
  cpus: true,
  memoryMiB: true,
  freeMemoryMiB: true,
  diskFreeGiB: true,
  hugepages: true,
  alertThresholds: true,
  libvirtVersion: true,
} as const;

export interface THostInput {
  name: string;
  uri: string;
  domainType: "kvm" | "qemu";
  cpuMode: "host-passthrough" | "host-model" | "none";
  poolPath: string;
  poolShared?: boolean;
  enabled?: boolean;
  cpuRatio?: number;
  memoryRatio?: number;
  reservedMemoryMiB?: number;
  /** pCPUs 0…n−1 never dedicated to flavors with dedicated CPUs (default 1). */
  reservedCpus?: number;
  labels?: Record<string, string>;
  alertThresholds?: Record<string, { abovePct?: number; windowS?: number } | undefined>;
}

/** Refuses URIs outside the allow-list (domain/host-uri) and pool paths that are not plain absolute paths. */
function checkHostInput(input: Partial<THostInput>): void {
  if (input.uri !== undefined) {
    const parsed = parseHostUri(input.uri, { keyfileDir: config().hostCredentialsDir });
    if (!parsed.ok) throw new AppError("BAD_REQUEST", `uri: ${parsed.reason}`, { field: "uri" });
  }
  if (input.poolPath !== undefined && !isPathInside(input.poolPath.replace(/\/$/, ""), "/")) {
    throw new AppError("BAD_REQUEST", "poolPath: must be an absolute path without '.', '..' or empty segments, and not /", { field: "poolPath" });
  }
}

type HostRow = Prisma.HostGetPayload<{ select: typeof hostSelect }>;

/** A host as the API shows it: the derived fleet state beside the monitor's connection state. */
function hostView(h: HostRow) {
  const { state, labels, hugepages, alertThresholds, ...rest } = h;
  return {
    ...rest,
    state: fleetState(h),
    connection: state,
    labels: labels as Record<string, string>,
    hugepages: hugepages as Array<{ sizeKiB: number; total: number; free: number }>,
    alertThresholds: alertThresholds as Record<string, unknown>,
  };
}

/**
 * Every host by name with its fleet state, capacity as placement counts it, and what its live VMs
 * hold; `only`: just that host, filtered in the query.
 */
export async function listHosts(ctx: ServiceContext, only?: { id: string }) {
  authorize(ctx.actor, "host.list");
  const [hosts, allocations, leaving] = await Promise.all([
    ctx.db.host.findMany({ where: only ? { id: only.id } : {}, orderBy: { name: "asc" }, select: hostSelect }),
    hostAllocations(ctx.db),
    ctx.db.vm.groupBy({ by: ["hostId"], where: { deletedAt: null, targetHostId: { not: null }, ...(only ? { hostId: only.id } : {}) }, _count: { _all: true } }),
  ]);
  const migratingAway = new Map(leaving.map((r) => [r.hostId, r._count._all]));
  return hosts.map((h) => {
    const a = allocations.get(h.id) ?? { vms: 0, vcpus: 0, memoryMiB: 0, pendingDiskGiB: 0 };
    return {
      ...hostView(h),
      vmCount: a.vms,
      capacity: {
        vcpus: h.cpus === null ? null : Math.floor(h.cpus * h.cpuRatio),
        memoryMiB: h.memoryMiB === null ? null : Math.floor(Math.max(0, h.memoryMiB - h.reservedMemoryMiB) * h.memoryRatio),
      },
      allocated: { vms: a.vms, vcpus: a.vcpus, memoryMiB: a.memoryMiB, pendingDiskGiB: a.pendingDiskGiB },
      migratingAway: migratingAway.get(h.id) ?? 0,
    };
  });
}

/** One host exactly as GET /hosts lists it; 404 when there is no such host. */
export async function getHost(ctx: ServiceContext, id: string) {
  const [host] = await listHosts(ctx, { id });
  if (!host) throw new AppError("NOT_FOUND", "host not found");
  return host;
}

export async function createHost(ctx: ServiceContext, input: THostInput) {
  authorize(ctx.actor, "host.manage");
  checkHostInput(input);
  try {
    const host = hostView(await ctx.db.host.create({ data: input, select: hostSelect }));
    await auditAs(ctx, { action: "host.create", targetType: "host", targetId: host.id, result: "ok", detail: { ...input } });
    return host;
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new AppError("CONFLICT", "a host with this name or URI exists");
    throw err;
  }
}

export async function updateHost(ctx: ServiceContext, id: string, input: Partial<THostInput>) {
  authorize(ctx.actor, "host.manage");
  checkHostInput(input);
  const existing = await ctx.db.host.findUnique({ where: { id }, select: { id: true } });
  if (!existing) throw new AppError("NOT_FOUND", "host not found");
  const host = hostView(await ctx.db.host.update({ where: { id }, data: input, select: hostSelect }));
  await auditAs(ctx, { action: "host.update", targetType: "host", targetId: id, result: "ok", detail: { ...input } });
  return host;
}
