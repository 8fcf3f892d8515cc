import { z } from "zod";
import { db } from "../../db/client.ts";
import { SCOPES } from "../../domain/policy.ts";
import { createOwnToken, issueTokenForCredentials, listOwnTokens, revokeOwnToken } from "../../services/auth-service.ts";
import { getMe, getOwnQuota } from "../../services/user-service.ts";
import { ZCreatedToken, ZId, ZName, ZOwnQuotaView, ZToken, ZTokenRequest, ZUser } from "../schemas.ts";
import { protectedProcedure, publicProcedure, rest, router } from "../trpc.ts";

const tags = ["auth"];

const ZScope = z.enum(SCOPES);
const ZRequestedScopes = z
  .array(ZScope)
  .min(1)
  .max(SCOPES.length)
  .optional()
  .describe("read: look; vms: act on VMs, consoles, classes; admin: administer. read is always included. Default: all you hold");
const ZScopedToken = ZToken.extend({ scopes: z.array(ZScope) });
const ZCreatedScopedToken = ZCreatedToken.extend({ scopes: z.array(ZScope) });

export const authRouter = router({
  token: publicProcedure
    .meta({
      ...rest("POST", "/auth/token", "exchange username and password for an API token; a new sign-in with the same name replaces that client's previous token", { protect: false, tags }),
      successStatus: 201,
    })
    .input(ZTokenRequest.extend({ scopes: ZRequestedScopes }))
    .output(ZCreatedScopedToken)
    .mutation(({ ctx, input }) => issueTokenForCredentials(db(), input, ctx.ip)),
  me: protectedProcedure
    .meta({ ...rest("GET", "/me", "the signed-in user with quota", { tags }), allowedBeforePasswordChange: true })
    .input(z.object({}).optional())
    .output(ZUser.extend({ quota: ZOwnQuotaView, mustChangePassword: z.boolean() }))
    .query(({ ctx }) => getMe(ctx.svc)),
  quota: protectedProcedure
    .meta(rest("GET", "/me/quota", "your quota limits and usage", { tags }))
    .input(z.object({}).optional())
    .output(ZOwnQuotaView)
    .query(({ ctx }) => getOwnQuota(ctx.svc)),
  tokens: protectedProcedure
    .meta(rest("GET", "/tokens", "your API tokens", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZScopedToken))
    .query(({ ctx }) => listOwnTokens(ctx.svc)),
  // Any token may mint and revoke its owner's tokens: a minted token never exceeds its parent's scopes or expiry.
  createToken: protectedProcedure
    .meta({ ...rest("POST", "/tokens", "create an API token for yourself (shown once); a token can mint only narrower, shorter-lived tokens", { tags }), successStatus: 201, scope: "read" })
    .input(z.object({ name: ZName, ttlDays: z.number().int().min(1).max(365).optional(), scopes: ZRequestedScopes }))
    .output(ZCreatedScopedToken)
    .mutation(({ ctx, input }) => createOwnToken(ctx.svc, input, ctx.user.token)),
  revokeToken: protectedProcedure
    .meta({ ...rest("DELETE", "/tokens/{id}", "revoke one of your API tokens (and the tokens it minted)", { tags }), scope: "read" })
    .input(ZId)
    .output(z.object({ id: z.string(), revoked: z.boolean() }))
    .mutation(({ ctx, input }) => revokeOwnToken(ctx.svc, input.id)),
});
