import { getLeasePolicy, setLeasePolicy } from "../../services/lease-service.ts";
import { ZLeasePolicy } from "../schemas.ts";
import { z } from "zod";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["admin"];

export const leaseRouter = router({
  policy: protectedProcedure
    .meta(rest("GET", "/leases/policy", "the lease policy of personal VMs: default and maximum extension days per role (0 = no lease), warning and grace days (admin)", { tags }))
    .input(z.object({}).optional())
    .output(ZLeasePolicy)
    .query(({ ctx }) => getLeasePolicy(ctx.svc)),
  setPolicy: protectedProcedure
    .meta(rest("PUT", "/leases/policy", "change the lease policy; defaults apply to VMs created from now on (admin)", { tags }))
    .input(ZLeasePolicy)
    .output(ZLeasePolicy)
    .mutation(({ ctx, input }) => setLeasePolicy(ctx.svc, input)),
});
