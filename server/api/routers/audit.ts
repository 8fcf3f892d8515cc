import { z } from "zod";
import { listAudit } from "../../services/audit-service.ts";
import { ZAuditEvent } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

export const auditRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/audit", "the audit log, newest first (admin)", { tags: ["admin"] }))
    .input(z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), cursor: z.string().uuid().optional(), action: z.string().max(100).optional() }))
    .output(z.object({ items: z.array(ZAuditEvent), nextCursor: z.string().optional() }))
    .query(({ ctx, input }) => listAudit(ctx.svc, input)),
});
