import { z } from "zod";
import { deleteImage, listImages, registerImage } from "../../services/image-service.ts";
import { ZId, ZImage, ZRegisterImageInput } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["images"];

export const imageRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/images", "images you can create VMs from", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZImage))
    .query(({ ctx }) => listImages(ctx.svc)),
  register: protectedProcedure
    .meta({ ...rest("POST", "/images", "register a qcow2/raw/ISO file already on a host (admin)", { tags }), successStatus: 201 })
    .input(ZRegisterImageInput)
    .output(ZImage)
    .mutation(({ ctx, input }) => registerImage(ctx.svc, input)),
  delete: protectedProcedure
    .meta(rest("DELETE", "/images/{id}", "remove an image from the library (admin)", { tags }))
    .input(ZId)
    .output(z.object({ id: z.string(), deleted: z.boolean() }))
    .mutation(({ ctx, input }) => deleteImage(ctx.svc, input.id)),
});
