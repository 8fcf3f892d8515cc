import { z } from "zod";
import { fleetOverview } from "../../services/fleet-overview.ts";
import { getLoadBalancing, setLoadBalancing } from "../../services/load-balance-service.ts";
import { createHost, getHost, listHosts, updateHost } from "../../services/host-service.ts";
import { hostMetrics } from "../../services/metrics-service.ts";
import { setHostMaintenance } from "../../services/migration-service.ts";
import { ZCreateHostInput, ZFleetOverview, ZLoadBalancing, ZSetLoadBalancingInput, ZHost, ZHostMetrics, ZHostWithCount, ZId, ZMetricsQuery, ZUpdateHostInput } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["admin"];

export const hostRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/hosts", "hypervisor hosts with health and capacity (admin)", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZHostWithCount))
    .query(({ ctx }) => listHosts(ctx.svc)),
  get: protectedProcedure
    .meta(rest("GET", "/hosts/{id}", "one host as GET /hosts lists it (admin)", { tags }))
    .input(ZId)
    .output(ZHostWithCount)
    .query(({ ctx, input }) => getHost(ctx.svc, input.id)),
  fleetOverview: protectedProcedure
    .meta(rest("GET", "/fleet", "every host's state, newest reading, storage pool, effective alert thresholds and last hour (≤ 120 points per metric) in one answer (admin)", { tags }))
    .input(z.object({}).optional())
    .output(ZFleetOverview)
    .query(({ ctx }) => fleetOverview(ctx.svc)),
  loadBalancing: protectedProcedure
    .meta(rest("GET", "/fleet/load-balancing", "the load-balancing policies per host group (off unless enabled) and their defaults (admin)", { tags }))
    .input(z.object({}).optional())
    .output(ZLoadBalancing)
    .query(({ ctx }) => getLoadBalancing(ctx.svc)),
  setLoadBalancing: protectedProcedure
    .meta(rest("PUT", "/fleet/load-balancing", "replace the load-balancing policies (one per host group; omitted fields take the defaults) (admin)", { tags }))
    .input(ZSetLoadBalancingInput)
    .output(ZLoadBalancing)
    .mutation(({ ctx, input }) => setLoadBalancing(ctx.svc, input.policies)),
  metrics: protectedProcedure
    .meta(rest("GET", "/hosts/{id}/metrics", "a host's CPU, memory, disk and running-guest series (admin)", { tags }))
    .input(ZMetricsQuery)
    .output(ZHostMetrics)
    .query(({ ctx, input }) => hostMetrics(ctx.svc, input.id, input)),
  create: protectedProcedure
    .meta({ ...rest("POST", "/hosts", "add a hypervisor host by libvirt URI (admin)", { tags }), successStatus: 201 })
    .input(ZCreateHostInput)
    .output(ZHost)
    .mutation(({ ctx, input }) => createHost(ctx.svc, input)),
  maintenance: protectedProcedure
    .meta({
      ...rest("POST", "/hosts/{id}/maintenance", "maintenance on: no new VMs, and every running VM is live-migrated away (the others are listed with why they stay); off: re-open (admin)", { tags }),
      successStatus: 202,
    })
    .input(ZId.extend({ enabled: z.boolean() }))
    .output(
      z.object({
        host: z.object({ id: z.string(), name: z.string() }),
        maintenance: z.boolean(),
        queued: z.array(z.object({ vmId: z.string(), name: z.string(), operationId: z.string(), to: z.string() })).describe("migrations queued by this request"),
        moving: z.array(z.object({ vmId: z.string(), name: z.string() })).describe("VMs already on their way"),
        staying: z.array(z.object({ vmId: z.string(), name: z.string(), reason: z.string() })).describe("VMs that cannot move, and why"),
      }),
    )
    .mutation(({ ctx, input }) => setHostMaintenance(ctx.svc, input.id, input.enabled)),
  update: protectedProcedure
    .meta(rest("PATCH", "/hosts/{id}", "change a host's settings (admin)", { tags }))
    .input(ZUpdateHostInput)
    .output(ZHost)
    .mutation(({ ctx, input }) => {
      const { id, ...rest } = input;
      return updateHost(ctx.svc, id, rest);
    }),
});
