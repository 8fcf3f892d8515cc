/** Alerts for admins: list, acknowledge, and the global thresholds (per-host ones live on the host). */
import type { Prisma } from "../../prisma/generated/client.ts";
import { AppError } from "../domain/errors.ts";
import type { Db, Tx } from "../db/client.ts";
import { ALERT_METRICS, DEFAULT_THRESHOLDS, effectiveThresholds, type Threshold, type Thresholds } from "../domain/alerts.ts";
import { authorize } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";

/** The global thresholds (the "alertThresholds" setting over the defaults); the alert evaluator reads them too. */
export async function globalThresholds(db: Db | Tx): Promise<Thresholds> {
  const row = await db.setting.findUnique({ where: { key: "alertThresholds" } });
  return effectiveThresholds(DEFAULT_THRESHOLDS, (row?.value ?? null) as Parameters<typeof effectiveThresholds>[1]);
}

const alertSelect = {
  id: true,
  kind: true,
  hostId: true,
  subject: true,
  state: true,
  message: true,
  value: true,
  threshold: true,
  firedAt: true,
  resolvedAt: true,
  ackedAt: true,
  ackedById: true,
} as const;

/** Open alerts first, newest first; `all` adds the history (resolved ones), at most `limit`. */
export async function listAlerts(ctx: ServiceContext, input: { state?: "open" | "all"; limit?: number }) {
  authorize(ctx.actor, "host.list");
  const where: Prisma.AlertWhereInput = input.state === "all" ? {} : { state: "firing" };
  return ctx.db.alert.findMany({ where, select: alertSelect, orderBy: [{ state: "asc" }, { firedAt: "desc" }], take: input.limit ?? 100 });
}

export async function ackAlert(ctx: ServiceContext, id: string) {
  authorize(ctx.actor, "host.manage");
  const found = await ctx.db.alert.findUnique({ where: { id }, select: { id: true, ackedAt: true } });
  if (!found) throw new AppError("NOT_FOUND", "alert not found");
  const alert = found.ackedAt ? await ctx.db.alert.findUniqueOrThrow({ where: { id }, select: alertSelect }) : await ctx.db.alert.update({ where: { id }, data: { ackedAt: new Date(), ackedById: ctx.actor.id }, select: alertSelect });
  if (!found.ackedAt) await auditAs(ctx, { action: "alert.ack", targetType: "alert", targetId: id, result: "ok", detail: { kind: alert.kind, subject: alert.subject } });
  return alert;
}

export async function getThresholds(ctx: ServiceContext) {
  authorize(ctx.actor, "host.list");
  return globalThresholds(ctx.db);
}

export async function setThresholds(ctx: ServiceContext, input: Partial<Record<(typeof ALERT_METRICS)[number], Partial<Threshold>>>) {
  authorize(ctx.actor, "host.manage");
  const current = await globalThresholds(ctx.db);
  const next = { ...current };
  for (const m of ALERT_METRICS) next[m] = { ...current[m], ...(input[m] ?? {}) };
  const value = next as unknown as Prisma.InputJsonObject;
  await ctx.db.setting.upsert({ where: { key: "alertThresholds" }, create: { key: "alertThresholds", value }, update: { value } });
  await auditAs(ctx, { action: "alert.thresholds", targetType: "setting", targetId: "alertThresholds", result: "ok", detail: next as unknown as Record<string, unknown> });
  return next;
}
