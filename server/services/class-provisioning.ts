/**
 * Class provisioning: one VM per student who has none, placed across the hosts that reach the lab
 * image and paid from the class budget, previewed first and then created all or nothing through the
 * operation queue.
 */
import { randomUUID } from "node:crypto";
import type { Tx } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { previewProvision } from "../domain/classroom.ts";
import { AppError } from "../domain/errors.ts";
import { placeMany, type PlacementResult } from "../domain/placement.ts";
import { vmCost } from "../domain/quota.ts";
import { auditAs } from "./audit-service.ts";
import { budgetOf, classSelect, loadClass, type ClassRow } from "./class-access.ts";
import type { ServiceContext } from "./context.ts";
import { HOLDING_STATES, loadFleet, lockPlacement } from "./fleet-service.ts";
import { enqueueVmOperation } from "./operation-service.ts";
import { chargeClassBudget } from "./quota-service.ts";

/**
 * Where the VMs of these students would go: one placement per student (placeMany), spread across the
 * hosts that can reach the lab image, each class VM avoiding hosts that already hold more of the
 * class (soft anti-affinity), so a class lands evenly and one host's loss takes only its share.
 */
async function placeStudents(tx: Tx | ServiceContext["db"], c: ClassRow, count: number): Promise<PlacementResult[]> {
  if (count === 0) return [];
  const fleet = await loadFleet(tx, c.image);
  const members: Record<string, number> = {};
  for (const row of await tx.vm.groupBy({ by: ["hostId"], where: { classId: c.id, deletedAt: null, state: { in: [...HOLDING_STATES] } }, _count: { _all: true } })) {
    members[row.hostId] = row._count._all;
  }
  const request = {
    vcpus: c.vcpus,
    memoryMiB: c.memoryMiB,
    diskGiB: c.diskGiB,
    image: fleet.image,
    antiAffinity: { mode: "soft" as const, members, group: c.id },
  };
  return placeMany(fleet.hosts, Array.from({ length: count }, () => request));
}

async function studentsWithoutVm(tx: Tx | ServiceContext["db"], classId: string, only?: string[]) {
  const students = await tx.classStudent.findMany({ where: { classId, ...(only ? { userId: { in: only } } : {}) }, select: { user: { select: { id: true, username: true } } } });
  const withVm = new Set((await tx.vm.findMany({ where: { classId, deletedAt: null }, select: { ownerId: true } })).map((v) => v.ownerId));
  return students.map((s) => s.user).filter((u) => !withVm.has(u.id));
}

/** Dry run: what provisioning would create, what it costs the budget, whether the host can take it, and why not. */
export async function previewClass(ctx: ServiceContext, id: string, input: { userIds?: string[] } = {}) {
  const c = await loadClass(ctx, id, "class.manage");
  const students = await studentsWithoutVm(ctx.db, id, input.userIds);
  const placements = await placeStudents(ctx.db, c, students.length);
  const preview = previewProvision({ students: students.map((s) => s.username), template: c, budget: budgetOf(c), placements });
  if (c.frozenAt) preview.reasons.push("the class is frozen");
  return { ...preview, fits: preview.reasons.length === 0, students: students.map((s) => s.username) };
}

/**
 * One VM per student who has none, as linked clones of the lab template, all or nothing: the class
 * row is locked, the preview recomputed inside the transaction, and if anything does not fit the
 * request fails with 409 and the reasons, creating nothing.
 */
export async function provision(ctx: ServiceContext, id: string, input: { userIds?: string[] }) {
  const c = await loadClass(ctx, id, "class.manage");
  const result = await ctx.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT "id" FROM "Class" WHERE "id" = ${id}::uuid FOR UPDATE`;
    const fresh = await tx.class.findUniqueOrThrow({ where: { id }, select: classSelect });
    const students = await studentsWithoutVm(tx, id, input.userIds);
    await lockPlacement(tx);
    const placements = await placeStudents(tx, fresh, students.length);
    const preview = previewProvision({ students: students.map((s) => s.username), template: fresh, budget: budgetOf(fresh), placements });
    if (fresh.frozenAt) preview.reasons.push("the class is frozen");
    if (fresh.expiredAt) preview.reasons.push("the class has expired");
    if (preview.reasons.length) throw new AppError("CONFLICT", `cannot provision: ${preview.reasons.join("; ")}`, { reasons: preview.reasons });
    if (students.length === 0) return { vms: 0, operations: [] as string[] };
    const cost = vmCost(fresh);
    await chargeClassBudget(tx, id, cost, students.length);
    const operations: string[] = [];
    for (const [i, s] of students.entries()) {
      const placement = placements[i]!;
      if (!placement.ok) throw new Error("unreachable: preview fits, so every student was placed");
      const hostId = placement.hostId;
      const vmId = randomUUID();
      await tx.vm.create({
        data: {
          id: vmId,
          name: `${fresh.name} — ${s.username}`,
          ownerId: s.id,
          classId: id,
          hostId,
          imageId: fresh.image.id,
          vcpus: fresh.vcpus,
          memoryMiB: fresh.memoryMiB,
          diskGiB: fresh.diskGiB,
          domainName: `vmdesk-${vmId}`,
          state: "provisioning",
        },
      });
      const op = await enqueueVmOperation(tx, { vmId, hostId, kind: "create", requestedById: ctx.actor.id });
      operations.push(op.id);
      await notifyVmChanged(tx, { vmId, ownerId: s.id });
    }
    return { vms: students.length, operations };
  }, { timeout: 30_000 });
  await auditAs(ctx, { action: "class.provision", targetType: "class", targetId: c.id, result: "ok", detail: { vms: result.vms } });
  return result;
}
