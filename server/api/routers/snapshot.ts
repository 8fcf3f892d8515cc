import { z } from "zod";
import { createVmSnapshot, deleteVmSnapshot, listVmSnapshots, revertVmSnapshot } from "../../services/snapshot-service.ts";
import { ZCreateSnapshotInput, ZId, ZSnapshotRef, ZVmSnapshot, ZVmWithOperation } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["snapshots"];

export const snapshotRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/vms/{id}/snapshots", "a VM's snapshots, oldest first (404 if the VM is not yours)", { tags }))
    .input(ZId)
    .output(z.array(ZVmSnapshot))
    .query(({ ctx, input }) => listVmSnapshots(ctx.svc, input.id)),
  create: protectedProcedure
    .meta({
      ...rest("POST", "/vms/{id}/snapshots", "take a named snapshot (memory: keep the guest's memory, default while it runs); 409 over the snapshots quota or a taken name", { tags }),
      successStatus: 202,
    })
    .input(ZCreateSnapshotInput)
    .output(ZVmWithOperation.extend({ snapshot: ZVmSnapshot }))
    .mutation(({ ctx, input }) => createVmSnapshot(ctx.svc, input.id, { name: input.name, memory: input.memory })),
  revert: protectedProcedure
    .meta({
      ...rest("POST", "/vms/{id}/snapshots/{name}/revert", "go back to a snapshot: with memory the guest resumes where it was, without it the VM is left shut off", { tags }),
      successStatus: 202,
    })
    .input(ZSnapshotRef)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => revertVmSnapshot(ctx.svc, input.id, input.name)),
  delete: protectedProcedure
    .meta({ ...rest("DELETE", "/vms/{id}/snapshots/{name}", "delete a snapshot (its quota returns once it is gone from the disk)", { tags }), successStatus: 202 })
    .input(ZSnapshotRef)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => deleteVmSnapshot(ctx.svc, input.id, input.name)),
});
