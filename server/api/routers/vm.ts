import { z } from "zod";
import type { VmAction } from "../../domain/vm-state.ts";
import { listVmOperations } from "../../services/operation-service.ts";
import { createVm, getVm, listVms, requestVmAction } from "../../services/vm-service.ts";
import { revertVmToCheckpoint } from "../../services/class-service.ts";
import { migrateVm } from "../../services/migration-service.ts";
import { setVmHa } from "../../services/ha-service.ts";
import { vmMetrics } from "../../services/metrics-service.ts";
import { ZCreateVmInput, ZId, ZListVmsInput, ZMetricsQuery, ZOperation, ZSetHaInput, ZShutdownInput, ZVmDetail, ZVmMetrics, ZVmWithOperation } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["vms"];

function actionProcedure(action: Exclude<VmAction, "delete" | "shutdown">) {
  return protectedProcedure
    .meta({ ...rest("POST", `/vms/{id}/${action}`, `${action} a VM`, { tags }), successStatus: 202 })
    .input(ZId)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => requestVmAction(ctx.svc, input.id, action));
}

export const vmRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/vms", "list your VMs, oldest first (admins: all=true lists everyone's); limit and cursor page the list", { tags }))
    .input(ZListVmsInput.optional())
    .output(z.array(ZVmDetail))
    .query(({ ctx, input }) => listVms(ctx.svc, input)),
  get: protectedProcedure
    .meta(rest("GET", "/vms/{id}", "one VM (404 if it is not yours)", { tags }))
    .input(ZId)
    .output(ZVmDetail)
    .query(({ ctx, input }) => getVm(ctx.svc, input.id)),
  metrics: protectedProcedure
    .meta(rest("GET", "/vms/{id}/metrics", "a VM's CPU, memory, disk and network series (404 if it is not yours)", { tags }))
    .input(ZMetricsQuery)
    .output(ZVmMetrics)
    .query(({ ctx, input }) => vmMetrics(ctx.svc, input.id, input)),
  operations: protectedProcedure
    .meta(rest("GET", "/vms/{id}/operations", "a VM's operation history, newest first", { tags }))
    .input(ZId)
    .output(z.array(ZOperation))
    .query(({ ctx, input }) => listVmOperations(ctx.svc, input.id)),
  create: protectedProcedure
    .meta({ ...rest("POST", "/vms", "create a VM (202: provisioning runs as an operation)", { tags }), successStatus: 202 })
    .input(ZCreateVmInput)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => createVm(ctx.svc, input)),
  start: actionProcedure("start"),
  shutdown: protectedProcedure
    .meta({ ...rest("POST", "/vms/{id}/shutdown", "ACPI shutdown, waiting up to timeoutS; force powers off after it", { tags }), successStatus: 202 })
    .input(ZShutdownInput)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => requestVmAction(ctx.svc, input.id, "shutdown", { force: input.force, timeoutS: input.timeoutS })),
  poweroff: actionProcedure("poweroff"),
  reboot: actionProcedure("reboot"),
  pause: actionProcedure("pause"),
  resume: actionProcedure("resume"),
  reset: protectedProcedure
    .meta({ ...rest("POST", "/vms/{id}/reset", "class VMs: recreate the disk from the lab template", { tags }), successStatus: 202 })
    .input(ZId)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => requestVmAction(ctx.svc, input.id, "reset")),
  revert: protectedProcedure
    .meta({ ...rest("POST", "/vms/{id}/revert", "class VMs: go back to one of the class's checkpoints", { tags }), successStatus: 202 })
    .input(ZId.extend({ checkpointId: z.string().uuid() }))
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => revertVmToCheckpoint(ctx.svc, input.id, input.checkpointId)),
  migrate: protectedProcedure
    .meta({
      ...rest("POST", "/vms/{id}/migrate", "live-migrate a running VM to another host (admins); without hostId placement chooses; 409 with each host's reason when none can take it", { tags }),
      successStatus: 202,
    })
    .input(ZId.extend({ hostId: z.string().uuid("must be a UUID").optional() }))
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => migrateVm(ctx.svc, input.id, { hostId: input.hostId })),
  setHa: protectedProcedure
    .meta(rest("PUT", "/vms/{id}/ha", "mark a VM highly available (restarted on another host sharing its storage when its host goes down), with a priority; 409 when its host's pool is not shared", { tags }))
    .input(ZSetHaInput)
    .output(ZVmDetail)
    .mutation(({ ctx, input }) => setVmHa(ctx.svc, input.id, { enabled: input.enabled, priority: input.priority })),
  delete: protectedProcedure
    .meta({ ...rest("DELETE", "/vms/{id}", "delete a VM with its disk", { tags }), successStatus: 202 })
    .input(ZId)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => requestVmAction(ctx.svc, input.id, "delete")),
});

