import { z } from "zod";
import { ackAlert, getThresholds, listAlerts, setThresholds } from "../../services/alert-service.ts";
import { ZAlert, ZId, ZListAlertsInput, ZThresholds, ZThresholdsInput } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["admin"];

export const alertRouter = router({
  list: protectedProcedure
    .meta(rest("GET", "/alerts", "alerts: the firing ones (state=all: with the resolved history), newest first (admin)", { tags }))
    .input(ZListAlertsInput.optional())
    .output(z.array(ZAlert))
    .query(({ ctx, input }) => listAlerts(ctx.svc, input ?? {})),
  ack: protectedProcedure
    .meta(rest("POST", "/alerts/{id}/ack", "acknowledge an alert (audited; it stays firing until its condition clears) (admin)", { tags }))
    .input(ZId)
    .output(ZAlert)
    .mutation(({ ctx, input }) => ackAlert(ctx.svc, input.id)),
  thresholds: protectedProcedure
    .meta(rest("GET", "/alerts/thresholds", "the global alert thresholds (CPU, memory, storage pool: percent and window) (admin)", { tags }))
    .input(z.object({}).optional())
    .output(ZThresholds)
    .query(({ ctx }) => getThresholds(ctx.svc)),
  setThresholds: protectedProcedure
    .meta(rest("PUT", "/alerts/thresholds", "change the global alert thresholds; hosts may override them (PATCH /hosts/{id} alertThresholds) (admin)", { tags }))
    .input(ZThresholdsInput)
    .output(ZThresholds)
    .mutation(({ ctx, input }) => setThresholds(ctx.svc, input)),
});
