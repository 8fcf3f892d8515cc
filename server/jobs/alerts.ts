/**
 * Alerts (leader only). After every metrics interval the evaluator reads each enabled host's recent
 * readings and applies the thresholds (domain/alerts: sustained for a window, cleared with
 * hysteresis): a crossing opens one alert per host and metric, a clear resolves it. A host the
 * monitor sees down opens "host.down" until it is back; an operation queued for longer than
 * STUCK_QUEUED_MS opens "operation.stuck" until it leaves the queue; an HA restart that was refused
 * (fencing required) or failed opens "vm.fencing_required" / "vm.ha_failed" until the VM runs again
 * (these two are also looked at after every one-second HA pass, evaluateHa);
 * a personal VM whose lease warning is out opens "vm.lease_expiring" until it is extended or deleted.
 * Every change is audited and, when a webhook or e-mail is configured, queued for delivery in the
 * same transaction as the alert row.
 *
 * Webhooks (WebhookSender): each delivery is a row, POSTed as JSON with an HMAC-SHA256 signature of
 * the body (`X-Vmdesk-Signature: sha256=<hex>`), retried with backoff (2 s doubling, at most 5 min,
 * WEBHOOK_MAX_ATTEMPTS) until the receiver answers 2xx. A row survives restarts and leader changes;
 * each attempt is bounded by a timeout, so a slow receiver holds up nothing else. E-mail deliveries
 * (channel "email") are rows of the same table with the same retries, sent by AlertEmailSender.
 */
import { createHmac } from "node:crypto";
import type { AlertChannel, Prisma } from "../../prisma/generated/client.ts";
import type { Db, Tx } from "../db/client.ts";
import {
  ALERT_METRIC_LABELS,
  ALERT_METRICS,
  alertMail,
  effectiveThresholds,
  evaluate,
  SIGNATURE_HEADER,
  WEBHOOK_MAX_ATTEMPTS,
  webhookBackoffMs,
  type AlertMetric,
  type Reading,
} from "../domain/alerts.ts";
import { fleetState } from "../domain/host-state.ts";
import { log as rootLog } from "../log.ts";
import { globalThresholds } from "../services/alert-service.ts";
import { audit } from "../services/audit-service.ts";
import type { AlertEmail } from "./alert-email.ts";
import type { Clock } from "./clock.ts";

const log = rootLog.child({ job: "alerts" });

export const STUCK_QUEUED_MS = 10 * 60_000;
const WEBHOOK_TIMEOUT_MS = 5_000;
const SYSTEM = { actorId: null, actorName: "alerts", ip: null };

export interface WebhookConfig {
  url: string | undefined;
  secret: string | undefined;
}

export class AlertEvaluator {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly webhook: WebhookConfig,
    private readonly email: AlertEmail | null = null,
  ) {}

  /** Passes run one at a time: two at once could both find an alert missing and both open it (its open key is unique: one would fail). */
  private chain: Promise<unknown> = Promise.resolve();
  private haQueued = false;

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Every kind of alert: after each metrics interval. */
  evaluateOnce(): Promise<void> {
    return this.exclusive(() => this.evaluateAll());
  }

  /**
   * HA restarts refused (fencing required) or failed only: cheap (two small queries), so the leader
   * runs it after every HA pass and these alerts fire and resolve within a second or two of the VM
   * row changing, not a metrics interval later. Skipped while one is already waiting.
   */
  evaluateHa(): Promise<void> {
    if (this.haQueued) return Promise.resolve();
    this.haQueued = true;
    return this.exclusive(async () => {
      this.haQueued = false;
      await this.haProblems(await this.openKeys());
    });
  }

  private async openKeys(): Promise<Set<string | null>> {
    return new Set((await this.db.alert.findMany({ where: { state: "firing" }, select: { openKey: true } })).map((a) => a.openKey));
  }

  private async hostsDown(hosts: Array<Parameters<typeof fleetState>[0] & { id: string; name: string }>, open: Set<string | null>): Promise<void> {
    for (const h of hosts) {
      const down = h.enabled && fleetState(h) === "down";
      await this.setOpen(`host.down:${h.id}`, open, down, { kind: "host.down", hostId: h.id, subject: `host ${h.name}`, message: `host ${h.name} is down: ${h.lastError ?? "not answering"}` });
    }
  }

  /**
   * HA: a restart refused by a disk lease (the old host may still run the guest: fence it), or one
   * that failed otherwise (no host could take it). Open while the VM row says so.
   */
  private async haProblems(open: Set<string | null>): Promise<void> {
    const vms = await this.db.vm.findMany({
      where: { deletedAt: null, haError: { not: null } },
      select: { id: true, name: true, hostId: true, haError: true, haFencingRequired: true },
      take: 1000,
    });
    const haKeys = new Set<string>();
    for (const vm of vms) {
      const kind = vm.haFencingRequired ? "vm.fencing_required" : "vm.ha_failed";
      const key = `${kind}:${vm.id}`;
      haKeys.add(key);
      await this.setOpen(key, open, true, { kind, hostId: vm.hostId, subject: `VM ${vm.name}`, message: vm.haFencingRequired ? `VM ${vm.name}: ${vm.haError}` : `VM ${vm.name}: HA restart failed: ${vm.haError}` });
    }
    for (const key of [...open]) if ((key?.startsWith("vm.fencing_required:") || key?.startsWith("vm.ha_failed:")) && !haKeys.has(key)) await this.setOpen(key, open, false, null);
  }

  private async evaluateAll(): Promise<void> {
    const now = this.clock.now();
    const global = await globalThresholds(this.db);
    const hosts = await this.db.host.findMany({
      select: { id: true, name: true, enabled: true, maintenance: true, state: true, lastError: true, alertThresholds: true, diskTotalGiB: true },
    });
    const thresholds = new Map(hosts.map((h) => [h.id, effectiveThresholds(global, h.alertThresholds as Parameters<typeof effectiveThresholds>[1])]));
    const longest = Math.max(60, ...[...thresholds.values()].flatMap((t) => ALERT_METRICS.map((m) => t[m].windowS)));
    const rows = await this.db.hostMetric.findMany({
      where: { step: { lt: 300 }, at: { gte: new Date(now.getTime() - longest * 1000 - 2 * this.intervalMs) } },
      select: { hostId: true, at: true, cpuPct: true, memoryUsedMiB: true, memoryTotalMiB: true, diskFreeGiB: true },
      orderBy: { at: "asc" },
    });
    const open = await this.openKeys();
    const intervalS = this.intervalMs / 1000;

    await this.hostsDown(hosts, open);
    for (const h of hosts) {
      if (!h.enabled) continue;
      const mine = rows.filter((r) => r.hostId === h.id);
      const t = thresholds.get(h.id)!;
      const series: Record<AlertMetric, Reading[]> = {
        cpu: mine.map((r) => ({ at: r.at, value: r.cpuPct })),
        memory: mine.map((r) => ({ at: r.at, value: r.memoryTotalMiB > 0 ? (100 * r.memoryUsedMiB) / r.memoryTotalMiB : null })),
        disk: mine.map((r) => ({ at: r.at, value: r.diskFreeGiB !== null && h.diskTotalGiB ? 100 * (1 - r.diskFreeGiB / h.diskTotalGiB) : null })),
      };
      for (const m of ALERT_METRICS) {
        const key = `host.${m}:${h.id}`;
        const verdict = evaluate(series[m], t[m], open.has(key), now, intervalS);
        if (verdict === "hold") continue;
        const last = series[m].at(-1)?.value ?? null;
        await this.setOpen(key, open, verdict === "fire", {
          kind: `host.${m}`,
          hostId: h.id,
          subject: `host ${h.name}`,
          message: `${ALERT_METRIC_LABELS[m]} of host ${h.name} above ${t[m].abovePct} % for ${t[m].windowS} s (now ${last?.toFixed(0)} %)`,
          value: last,
          threshold: t[m].abovePct,
        });
      }
    }

    await this.haProblems(open);

    // Leases: a personal VM whose owner has been warned of its expiry (server/jobs/leases.ts), until
    // the lease is extended (the warning is cleared) or the VM is deleted.
    const leases = await this.db.vm.findMany({
      where: { deletedAt: null, leaseWarnedAt: { not: null }, leaseExpiresAt: { not: null } },
      select: { id: true, name: true, hostId: true, leaseExpiresAt: true, owner: { select: { username: true } } },
      take: 1000,
    });
    const leaseKeys = new Set<string>();
    for (const vm of leases) {
      const key = `vm.lease_expiring:${vm.id}`;
      leaseKeys.add(key);
      const when = vm.leaseExpiresAt!.toISOString();
      const message = vm.leaseExpiresAt!.getTime() <= now.getTime() ? `VM ${vm.name} of ${vm.owner.username}: lease expired at ${when}; stopped, and deleted after the grace period` : `VM ${vm.name} of ${vm.owner.username}: lease expires at ${when}; it will be stopped then`;
      await this.setOpen(key, open, true, { kind: "vm.lease_expiring", hostId: vm.hostId, subject: `VM ${vm.name}`, message });
    }
    for (const key of open) if (key?.startsWith("vm.lease_expiring:") && !leaseKeys.has(key)) await this.setOpen(key, open, false, null);

    const stuck = await this.db.operation.findMany({
      where: { status: "queued", createdAt: { lt: new Date(now.getTime() - STUCK_QUEUED_MS) } },
      select: { id: true, kind: true, vmId: true },
      take: 100,
    });
    const stuckKeys = new Set(stuck.map((o) => `operation.stuck:${o.id}`));
    for (const o of stuck) {
      await this.setOpen(`operation.stuck:${o.id}`, open, true, { kind: "operation.stuck", hostId: null, subject: `operation ${o.id}`, message: `operation ${o.kind} (${o.id}) queued for over ${STUCK_QUEUED_MS / 60_000} minutes: no worker took it` });
    }
    for (const key of open) if (key?.startsWith("operation.stuck:") && !stuckKeys.has(key)) await this.setOpen(key, open, false, null);
  }

  /** Opens the alert `key` when `firing` and none is open, resolves it when not firing and one is. */
  private async setOpen(
    key: string,
    open: Set<string | null>,
    firing: boolean,
    alert: { kind: string; hostId: string | null; subject: string; message: string; value?: number | null; threshold?: number } | null,
  ): Promise<void> {
    if (firing === open.has(key)) return;
    if (firing && alert) {
      await this.db.$transaction(async (tx) => {
        const created = await tx.alert.create({ data: { ...alert, value: alert.value ?? null, threshold: alert.threshold ?? null, openKey: key, firedAt: this.clock.now() } });
        await audit(tx, SYSTEM, { action: "alert.fire", targetType: "alert", targetId: created.id, result: "ok", detail: { kind: alert.kind, subject: alert.subject, message: alert.message } });
        await this.queueDeliveries(tx, created, "fired");
      });
      open.add(key);
      log.warn({ key, message: alert.message }, "alert fired");
    } else if (!firing) {
      await this.db.$transaction(async (tx) => {
        const current = await tx.alert.findUnique({ where: { openKey: key } });
        if (!current) return;
        const resolved = await tx.alert.update({ where: { id: current.id }, data: { state: "resolved", resolvedAt: this.clock.now(), openKey: null } });
        await audit(tx, SYSTEM, { action: "alert.resolve", targetType: "alert", targetId: resolved.id, result: "ok", detail: { kind: resolved.kind, subject: resolved.subject } });
        await this.queueDeliveries(tx, resolved, "resolved");
      });
      open.delete(key);
      log.info({ key }, "alert resolved");
    }
  }

  private async queueDeliveries(tx: Tx, alert: Prisma.AlertGetPayload<object>, event: "fired" | "resolved"): Promise<void> {
    const nextAttemptAt = this.clock.now();
    if (this.webhook.url) {
      const body = JSON.stringify({
        event,
        alert: { id: alert.id, kind: alert.kind, subject: alert.subject, message: alert.message, state: alert.state, value: alert.value, threshold: alert.threshold, firedAt: alert.firedAt, resolvedAt: alert.resolvedAt },
      });
      await tx.webhookDelivery.create({ data: { alertId: alert.id, channel: "webhook", event, body, nextAttemptAt } });
    }
    if (this.email) {
      const mail = alertMail(alert, event, { alertsUrl: this.email.alertsUrl, domain: this.email.from.split("@").at(-1)! });
      await tx.webhookDelivery.create({ data: { alertId: alert.id, channel: "email", event, body: JSON.stringify(mail), nextAttemptAt } });
    }
  }
}

/** Deliveries of `channel` that are due now: not delivered, attempts left, backoff over; oldest first. */
export function dueDeliveries(db: Db, clock: Clock, channel: AlertChannel) {
  return db.webhookDelivery.findMany({
    where: { channel, deliveredAt: null, attempts: { lt: WEBHOOK_MAX_ATTEMPTS }, nextAttemptAt: { lte: clock.now() } },
    select: { id: true, channel: true, body: true, attempts: true },
    orderBy: { createdAt: "asc" },
    take: 20,
  });
}

export type DueDelivery = Awaited<ReturnType<typeof dueDeliveries>>[number];

/** Records one attempt at delivery `d`: delivered (`error` null), or due again after the backoff. */
export async function recordAttempt(db: Db, clock: Clock, d: DueDelivery, error: string | null): Promise<void> {
  const attempts = d.attempts + 1;
  if (error === null) {
    await db.webhookDelivery.update({ where: { id: d.id }, data: { attempts, deliveredAt: clock.now(), lastError: null } });
    return;
  }
  await db.webhookDelivery.update({ where: { id: d.id }, data: { attempts, lastError: error.slice(0, 1000), nextAttemptAt: new Date(clock.now().getTime() + webhookBackoffMs(attempts)) } });
  if (attempts < WEBHOOK_MAX_ATTEMPTS) log.warn({ delivery: d.id, channel: d.channel, attempts, error }, "alert delivery failed; will retry");
  else log.error({ delivery: d.id, channel: d.channel, attempts, error }, "alert delivery failed; out of attempts");
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export class WebhookSender {
  private busy = false;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly webhook: WebhookConfig,
  ) {}

  /** Sends what is due; one pass at a time. */
  async sendDue(): Promise<void> {
    if (this.busy || !this.webhook.url) return;
    this.busy = true;
    try {
      const due = await dueDeliveries(this.db, this.clock, "webhook");
      await Promise.all(due.map((d) => this.attempt(d)));
    } finally {
      this.busy = false;
    }
  }

  private async attempt(d: DueDelivery): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "vmdesk-alerts" };
    if (this.webhook.secret) headers[SIGNATURE_HEADER] = signBody(this.webhook.secret, d.body);
    let error: string | null = null;
    try {
      const res = await fetch(this.webhook.url!, { method: "POST", headers, body: d.body, redirect: "manual", signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
      await res.body?.cancel().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    await recordAttempt(this.db, this.clock, d, error);
  }
}
