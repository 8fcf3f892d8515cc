import { z } from "zod";
import { setTeachingQuota } from "../../services/teaching-quota.ts";
import { changeOwnPassword, createUser, listUsers, setQuota, updateUser } from "../../services/user-service.ts";
import { ZCreatedUser, ZCreateUserInput, ZPassword, ZQuotaView, ZSetQuotaInput, ZUpdateUserInput, ZUser, ZUserWithQuota } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["admin"];

export const userRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/users", "all users with quotas and teaching quotas (admin)", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZUserWithQuota.extend({ teachingQuota: ZQuotaView, mustChangePassword: z.boolean() })))
    .query(({ ctx }) => listUsers(ctx.svc)),
  create: protectedProcedure
    .meta({ ...rest("POST", "/users", "create a user (admin)", { tags }), successStatus: 201 })
    .input(ZCreateUserInput)
    .output(ZCreatedUser)
    .mutation(({ ctx, input }) => createUser(ctx.svc, input)),
  update: protectedProcedure
    .meta(rest("PATCH", "/users/{id}", "change role, disable/enable, reset password (admin)", { tags }))
    .input(ZUpdateUserInput)
    .output(ZUser)
    .mutation(({ ctx, input }) => updateUser(ctx.svc, input)),
  setQuota: protectedProcedure
    .meta(rest("PUT", "/users/{id}/quota", "set a user's quota limits (admin)", { tags }))
    .input(ZSetQuotaInput)
    .output(ZQuotaView)
    .mutation(({ ctx, input }) => setQuota(ctx.svc, input.id, { vms: input.vms, vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB, snapshots: input.snapshots })),
  setTeachingQuota: protectedProcedure
    .meta(rest("PUT", "/users/{id}/teaching-quota", "set a teacher's teaching quota, which all their classes' budgets draw on (admin)", { tags }))
    .input(ZSetQuotaInput)
    .output(ZQuotaView)
    .mutation(({ ctx, input }) => setTeachingQuota(ctx.svc, input.id, { vms: input.vms, vcpus: input.vcpus, memoryMiB: input.memoryMiB, diskGiB: input.diskGiB })),
  changePassword: protectedProcedure
    // Any token scope, like managing one's tokens: the current password, not the token, is the authority here.
    .meta({
      ...rest("POST", "/me/password", "change your own password (the one call a roster account may make before it has); ends your other sessions and API tokens", { tags: ["auth"] }),
      allowedBeforePasswordChange: true,
      scope: "read",
    })
    .input(z.object({ currentPassword: z.string().min(1).max(200), newPassword: ZPassword }))
    .output(z.object({ changed: z.boolean() }))
    .mutation(({ ctx, input }) => changeOwnPassword(ctx.svc, input, ctx.user.token?.id)),
});
