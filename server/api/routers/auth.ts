import { z } from "zod";
import { db } from "../../db/client.ts";
import { createOwnToken, issueTokenForCredentials, listOwnTokens, revokeOwnToken } from "../../services/auth-service.ts";
import { getMe, getOwnQuota } from "../../services/user-service.ts";
import { ZCreatedToken, ZId, ZName, ZQuotaView, ZToken, ZTokenRequest, ZUser } from "../schemas.ts";
import { protectedProcedure, publicProcedure, rest, router } from "../trpc.ts";

const tags = ["auth"];

export const authRouter = router({
  token: publicProcedure
    .meta({ ...rest("POST", "/auth/token", "exchange username and password for an API token", { protect: false, tags }), successStatus: 201 })
    .input(ZTokenRequest)
    .output(ZCreatedToken)
    .mutation(({ ctx, input }) => issueTokenForCredentials(db(), input, ctx.ip)),
  me: protectedProcedure
    .meta(rest("GET", "/me", "the signed-in user with quota", { tags }))
    .input(z.object({}).optional())
    .output(ZUser.extend({ quota: ZQuotaView }))
    .query(({ ctx }) => getMe(ctx.svc)),
  quota: protectedProcedure
    .meta(rest("GET", "/me/quota", "your quota limits and usage", { tags }))
    .input(z.object({}).optional())
    .output(ZQuotaView)
    .query(({ ctx }) => getOwnQuota(ctx.svc)),
  tokens: protectedProcedure
    .meta(rest("GET", "/tokens", "your API tokens", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZToken))
    .query(({ ctx }) => listOwnTokens(ctx.svc)),
  createToken: protectedProcedure
    .meta({ ...rest("POST", "/tokens", "create an API token for yourself (shown once)", { tags }), successStatus: 201 })
    .input(z.object({ name: ZName, ttlDays: z.number().int().min(1).max(365).optional() }))
    .output(ZCreatedToken)
    .mutation(({ ctx, input }) => createOwnToken(ctx.svc, input)),
  revokeToken: protectedProcedure
    .meta(rest("DELETE", "/tokens/{id}", "revoke one of your API tokens", { tags }))
    .input(ZId)
    .output(z.object({ id: z.string(), revoked: z.boolean() }))
    .mutation(({ ctx, input }) => revokeOwnToken(ctx.svc, input.id)),
});
