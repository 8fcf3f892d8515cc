import { z } from "zod";
import type { VmAction } from "../../domain/vm-state.ts";
import { listVmOperations } from "../../services/operation-service.ts";
import { createVm, getVm, listVms, requestVmAction } from "../../services/vm-service.ts";
import { revertVmToCheckpoint } from "../../services/class-service.ts";
import { migrateVm } from "../../services/migration-service.ts";
import { setVmHa } from "../../services/ha-service.ts";
import { resizeVm } from "../../services/resize-service.ts";
import { vmMetrics } from "../../services/metrics-service.ts";
import { extendVmLease } from "../../services/lease-service.ts";
import { readSerialLog } from "../../services/serial-log-service.ts";
import { ZExtendLeaseInput, ZLease, ZSerialLog, ZSerialLogQuery } from "../schemas.ts";
import { ZCreateVmInput, ZId, ZListVmsInput, ZMetricsQuery, ZOperation, ZResizeVmInput, ZSetHaInput, ZShutdownInput, ZVmDetail, ZVmMetrics, ZVmWithOperation } from "../schemas.ts";
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
  serialLog: protectedProcedure
    .meta(rest("GET", "/vms/{id}/serial-log", "the VM's serial console log (kept by the portal, size-capped and rotated): a tail, what came after a position, a download (download=1) or a live follow (follow=1) (404 if it is not yours)", { tags }))
    .input(ZSerialLogQuery)
    .output(ZSerialLog)
    .query(({ ctx, input }) => readSerialLog(ctx.svc, input.id, input)),
  extendLease: protectedProcedure
    .meta(rest("POST", "/vms/{id}/lease", "extend a personal VM's lease by some days (409 past the role's maximum or without a lease)", { tags }))
    .input(ZExtendLeaseInput)
    .output(ZLease)
    .mutation(({ ctx, input }) => extendVmLease(ctx.svc, input.id, input.days)),
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
  resize: protectedProcedure
    .meta({
      ...rest("PATCH", "/vms/{id}", "resize within quota, or to another flavor (flavorId; other tuning needs a stop, 412): stopped, any size; running, more vCPUs and memory up to the maximums set at create, and a bigger disk (disks only grow: 400); 409 over quota, 412 what needs a stop", { tags }),
      successStatus: 202,
    })
    .input(ZResizeVmInput)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => resizeVm(ctx.svc, input.id, { vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB, flavorId: input.flavorId })),
  delete: protectedProcedure
    .meta({ ...rest("DELETE", "/vms/{id}", "delete a VM with its disk", { tags }), successStatus: 202 })
    .input(ZId)
    .output(ZVmWithOperation)
    .mutation(({ ctx, input }) => requestVmAction(ctx.svc, input.id, "delete")),
});

