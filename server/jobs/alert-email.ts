/**
 * Alert e-mail (leader only). The evaluator queues one "email" delivery per fired or resolved alert,
 * in the alert's transaction, holding the message already built (domain/alerts' alertMail). This
 * sender hands due ones to the SMTP server of VMDESK_SMTP_URL, one message to all recipients, with
 * the webhooks' retries and backoff. Every attempt is bounded by `timeoutMs` (connecting, greeting,
 * each read and the whole exchange), so a dead or stalling server costs its own deliveries only.
 */
import nodemailer from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport";
import { config, publicUrl, type AlertEmailConfig } from "../config.ts";
import type { Db } from "../db/client.ts";
import type { AlertMail } from "../domain/alerts.ts";
import { log as rootLog } from "../log.ts";
import { dueDeliveries, recordAttempt, type DueDelivery } from "./alerts.ts";
import type { Clock } from "./clock.ts";

const log = rootLog.child({ job: "alert-email" });

export const EMAIL_TIMEOUT_MS = 15_000;

/** The e-mail settings plus the Alerts page the messages link to. */
export interface AlertEmail extends AlertEmailConfig {
  alertsUrl: string;
}

/** This portal's alert e-mail settings, or null when e-mail is off. */
export function alertEmailSettings(): AlertEmail | null {
  const c = config().alertEmail;
  return c && { ...c, alertsUrl: new URL("/admin/alerts", publicUrl()).toString() };
}

export class AlertEmailSender {
  private busy = false;
  private readonly transport: nodemailer.Transporter<SMTPTransport.SentMessageInfo> | null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly email: AlertEmail | null,
    private readonly timeoutMs = EMAIL_TIMEOUT_MS,
  ) {
    const s = email?.server;
    this.transport = s
      ? nodemailer.createTransport({
          host: s.host,
          port: s.port,
          secure: s.secure,
          // Credentials never cross the wire in clear: over smtp:// they need STARTTLS.
          requireTLS: !s.secure && s.auth !== null,
          auth: s.auth ?? undefined,
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        })
      : null;
  }

  /** Sends what is due; one pass at a time. */
  async sendDue(): Promise<void> {
    if (this.busy || !this.transport) return;
    this.busy = true;
    try {
      const due = await dueDeliveries(this.db, this.clock, "email");
      await Promise.all(due.map((d) => this.attempt(d)));
    } finally {
      this.busy = false;
    }
  }

  private async attempt(d: DueDelivery): Promise<void> {
    let error: string | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      const mail = JSON.parse(d.body) as AlertMail;
      const sent = this.transport!.sendMail({
        from: this.email!.from,
        to: this.email!.to,
        subject: mail.subject,
        text: mail.text,
        messageId: mail.messageId,
        ...(mail.inReplyTo ? { inReplyTo: mail.inReplyTo, references: [mail.inReplyTo] } : {}),
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from the SMTP server within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      const info = await Promise.race([sent, timeout]);
      // Some recipients refused it and others took it: delivered, since a retry would repeat it to
      // those who have it.
      if (info.rejected.length > 0) {
        log.warn({ delivery: d.id, rejected: info.rejected.map((r) => (typeof r === "string" ? r : r.address)) }, "alert e-mail refused for some recipients");
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
    await recordAttempt(this.db, this.clock, d, error);
  }
}
