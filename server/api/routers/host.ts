import { z } from "zod";
import { createHost, listHosts, updateHost } from "../../services/host-service.ts";
import { ZCreateHostInput, ZHost, ZHostWithCount, ZUpdateHostInput } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["admin"];

export const hostRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/hosts", "hypervisor hosts with health and capacity (admin)", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZHostWithCount))
    .query(({ ctx }) => listHosts(ctx.svc)),
  create: protectedProcedure
    .meta({ ...rest("POST", "/hosts", "add a hypervisor host by libvirt URI (admin)", { tags }), successStatus: 201 })
    .input(ZCreateHostInput)
    .output(ZHost)
    .mutation(({ ctx, input }) => createHost(ctx.svc, input)),
  update: protectedProcedure
    .meta(rest("PATCH", "/hosts/{id}", "change a host's settings (admin)", { tags }))
    .input(ZUpdateHostInput)
    .output(ZHost)
    .mutation(({ ctx, input }) => {
      const { id, ...rest } = input;
      return updateHost(ctx.svc, id, rest);
    }),
});
