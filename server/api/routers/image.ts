import { z } from "zod";
import { deleteImage, listImages, publishImage, registerImage } from "../../services/image-service.ts";
import { cancelUpload, createUpload, getUpload, imagesQuota, setImagesQuota } from "../../services/upload-service.ts";
import { ZCreateUploadInput, ZId, ZImage, ZImagesQuota, ZRegisterImageInput, ZUpload } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["images"];

// The bytes of an upload travel outside tRPC (server/api/upload-http.ts): PUT /api/v1/images/upload
// for one request, PUT /api/v1/images/uploads/{id} with Content-Range for each chunk.
export const imageRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/images", "images you can create VMs from: public ones and your own uploads", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZImage))
    .query(({ ctx }) => listImages(ctx.svc)),
  register: protectedProcedure
    .meta({ ...rest("POST", "/images", "register a qcow2/raw/ISO file already on a host (admin)", { tags }), successStatus: 201 })
    .input(ZRegisterImageInput)
    .output(ZImage)
    .mutation(({ ctx, input }) => registerImage(ctx.svc, input)),
  delete: protectedProcedure
    .meta(rest("DELETE", "/images/{id}", "remove an image from the library (admin; tenants their own uploads)", { tags }))
    .input(ZId)
    .output(z.object({ id: z.string(), deleted: z.boolean() }))
    .mutation(({ ctx, input }) => deleteImage(ctx.svc, input.id)),
  publish: protectedProcedure
    .meta(rest("POST", "/images/{id}/publish", "make an uploaded private image public (admin)", { tags }))
    .input(ZId)
    .output(ZImage)
    .mutation(({ ctx, input }) => publishImage(ctx.svc, input.id)),
  createUpload: protectedProcedure
    .meta({ ...rest("POST", "/images/uploads", "start a resumable upload; then PUT its bytes to /images/uploads/{id} with Content-Range", { tags }), successStatus: 201 })
    .input(ZCreateUploadInput)
    .output(ZUpload)
    .mutation(({ ctx, input }) => createUpload(ctx.svc, { ...input, totalBytes: input.totalBytes })),
  getUpload: protectedProcedure
    .meta(rest("GET", "/images/uploads/{id}", "an upload's state and offset (where to resume)", { tags }))
    .input(ZId)
    .output(ZUpload)
    .query(({ ctx, input }) => getUpload(ctx.svc, input.id)),
  cancelUpload: protectedProcedure
    .meta(rest("DELETE", "/images/uploads/{id}", "abandon an unfinished upload", { tags }))
    .input(ZId)
    .output(z.object({ id: z.string(), deleted: z.boolean() }))
    .mutation(({ ctx, input }) => cancelUpload(ctx.svc, input.id)),
  quota: protectedProcedure
    .meta(rest("GET", "/me/images-quota", "your images quota: limit (GiB) and bytes used by private images and unfinished uploads", { tags }))
    .input(z.object({}).optional())
    .output(ZImagesQuota)
    .query(({ ctx }) => imagesQuota(ctx.svc)),
  setQuota: protectedProcedure
    .meta({ ...rest("PUT", "/users/{id}/images-quota", "set a user's images quota in GiB (admin)", { tags }), scope: "admin" })
    .input(ZId.extend({ imagesGiB: z.number().int().min(0).max(1_000_000) }))
    .output(ZImagesQuota)
    .mutation(({ ctx, input }) => setImagesQuota(ctx.svc, input.id, input.imagesGiB)),
});
