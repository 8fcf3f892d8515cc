import { z } from "zod";
import { addOwnSshKey, deleteOwnSshKey, listOwnSshKeys } from "../../services/ssh-key-service.ts";
import { ZAddSshKeyInput, ZId, ZSshKey } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["ssh-keys"];

export const sshKeyRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/me/ssh-keys", "your SSH public keys (offered to new VMs through cloud-init)", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZSshKey))
    .query(({ ctx }) => listOwnSshKeys(ctx.svc)),
  add: protectedProcedure
    .meta({ ...rest("POST", "/me/ssh-keys", "add an SSH public key (at most 50; the same key twice is 409)", { tags }), successStatus: 201 })
    .input(ZAddSshKeyInput)
    .output(ZSshKey)
    .mutation(({ ctx, input }) => addOwnSshKey(ctx.svc, input)),
  delete: protectedProcedure
    .meta(rest("DELETE", "/me/ssh-keys/{id}", "delete one of your SSH keys (VMs created with it keep it)", { tags }))
    .input(ZId)
    .output(z.object({ id: z.string(), deleted: z.boolean() }))
    .mutation(({ ctx, input }) => deleteOwnSshKey(ctx.svc, input.id)),
});
