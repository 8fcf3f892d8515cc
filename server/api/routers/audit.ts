import { z } from "zod";
import { listAudit } from "../../services/audit-service.ts";
import { ZAuditEvent, ZLineText, ZQueryInt } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

export const auditRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/audit", "the audit log, newest first (admin)", { tags: ["admin"] }))
    .input(z.object({ limit: ZQueryInt(1, 500).optional(), cursor: z.string().uuid().optional(), action: ZLineText(100).optional() }))
    .output(z.object({ items: z.array(ZAuditEvent), nextCursor: z.string().optional() }))
    .query(({ ctx, input }) => listAudit(ctx.svc, { ...input, limit: input.limit ?? 100 })),
});
