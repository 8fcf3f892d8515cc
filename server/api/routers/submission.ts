import { z } from "zod";
import {
  closeSubmissionViewer,
  getSubmissionExport,
  getSubmissionViewer,
  listSubmissionViewers,
  openSubmissionViewer,
  openViewerConsole,
  requestSubmissionExport,
} from "../../services/submission-service.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";
import { ZConsoleTicket } from "./console.ts";

const tags = ["classes"];
const ZClassId = z.object({ id: z.string().uuid("must be a UUID") });
const ZViewerId = z.object({ viewerId: z.string().uuid("must be a UUID") });

const ZViewer = z.object({
  id: z.string(),
  classId: z.string(),
  vmId: z.string(),
  openedById: z.string(),
  state: z.string().describe("creating | running | closing | closed | failed"),
  error: z.string().nullable(),
  expiresAt: z.date().describe("discarded then unless closed before"),
  createdAt: z.date(),
  closedAt: z.date().nullable(),
});

const ZExport = z.object({
  id: z.string(),
  classId: z.string(),
  state: z.string().describe("preparing | ready | failed | expired"),
  error: z.string().nullable(),
  files: z.array(z.object({ username: z.string(), file: z.string(), bytes: z.number() })),
  skipped: z.array(z.object({ username: z.string(), reason: z.string() })),
  createdAt: z.date(),
  readyAt: z.date().nullable(),
  expiresAt: z.date(),
  downloadUrl: z.string().nullable().describe("GET it for the tar (one qcow2 per student) once ready"),
});

export const submissionRouter = router({
  view: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/vms/{vmId}/submission/view", "boot a student's submission in a throwaway viewer (view-only console; discarded on close or after 30 min)", { tags }), successStatus: 202 })
    .input(ZClassId.extend({ vmId: z.string().uuid() }))
    .output(ZViewer.extend({ operationId: z.string().nullable() }))
    .mutation(({ ctx, input }) => openSubmissionViewer(ctx.svc, input.id, input.vmId)),
  viewers: protectedProcedure
    .meta(rest("GET", "/classes/{id}/submission-viewers", "the class's open submission viewers", { tags }))
    .input(ZClassId)
    .output(z.array(ZViewer))
    .query(({ ctx, input }) => listSubmissionViewers(ctx.svc, input.id)),
  viewer: protectedProcedure
    .meta(rest("GET", "/submission-viewers/{viewerId}", "one submission viewer", { tags }))
    .input(ZViewerId)
    .output(ZViewer)
    .query(({ ctx, input }) => getSubmissionViewer(ctx.svc, input.viewerId)),
  close: protectedProcedure
    .meta({ ...rest("POST", "/submission-viewers/{viewerId}/close", "discard a submission viewer (its domain and disk)", { tags }), successStatus: 202 })
    .input(ZViewerId)
    .output(ZViewer)
    .mutation(({ ctx, input }) => closeSubmissionViewer(ctx.svc, input.viewerId)),
  console: protectedProcedure
    .meta({ ...rest("POST", "/submission-viewers/{viewerId}/console", "a single-use view-only console ticket for a running viewer", { tags }), successStatus: 201 })
    .input(ZViewerId.extend({ kind: z.enum(["vnc", "serial"]).default("vnc") }))
    .output(ZConsoleTicket)
    .mutation(({ ctx, input }) => openViewerConsole(ctx.svc, input.viewerId, input.kind, { portalOrigin: ctx.portalOrigin })),
  export: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/submissions/exports", "prepare a tar of every student's submitted disk (qcow2, named by username)", { tags }), successStatus: 202 })
    .input(ZClassId)
    .output(ZExport)
    .mutation(({ ctx, input }) => requestSubmissionExport(ctx.svc, input.id)),
  exportStatus: protectedProcedure
    .meta(rest("GET", "/classes/{id}/submissions/exports/{exportId}", "an export's state; downloadUrl once ready", { tags }))
    .input(ZClassId.extend({ exportId: z.string().uuid() }))
    .output(ZExport)
    .query(({ ctx, input }) => getSubmissionExport(ctx.svc, input.id, input.exportId)),
});
