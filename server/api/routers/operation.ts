import { getOperation } from "../../services/operation-service.ts";
import { ZId, ZOperation } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

export const operationRouter = router({
  get: protectedProcedure
    .meta(rest("GET", "/operations/{id}", "an operation's status and progress", { tags: ["operations"] }))
    .input(ZId)
    .output(ZOperation)
    .query(({ ctx, input }) => getOperation(ctx.svc, input.id)),
});
