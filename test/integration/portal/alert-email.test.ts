/**
 * Alert e-mail against a real SMTP server in this process (smtp-server on 127.0.0.1). A host whose
 * CPU readings stay over the threshold fires an alert; its e-mail reaches exactly the configured
 * recipients after the server refused the first attempt (451 on DATA), although the host's name tries
 * to add a Bcc header; the resolve sends a second message, threaded to the first. E-mail and webhook
 * deliveries share one table: each sender sends its own rows only. A server that takes the connection
 * and never answers costs one bounded attempt. The evaluator and senders run on an injected clock
 * over readings written to the real database (the mail path needs no guest).
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { config } from "../../../server/config.ts";
import { db, disconnectDb } from "../../../server/db/client.ts";
import { AlertEmailSender, alertEmailSettings } from "../../../server/jobs/alert-email.ts";
import { AlertEvaluator, WebhookSender } from "../../../server/jobs/alerts.ts";
import { seedDatabase } from "../../support/harness.ts";

const ENV = {
  VMDESK_SMTP_URL: "",
  VMDESK_ALERT_EMAIL_TO: "ops@example.org, oncall@example.org",
  VMDESK_ALERT_EMAIL_FROM: "vmdesk@example.org",
  NEXTAUTH_URL: "https://vmdesk.example.org",
  VMDESK_ALERT_WEBHOOK_URL: "",
};
const INTERVAL_MS = 10_000;
const HOST_NAME = "lab1\r\nBcc: intruder@example.net";

interface Received {
  mailFrom: string | null;
  rcptTo: string[];
  raw: string;
}

let smtp: SMTPServer;
let webhookReceiver: http.Server;
let hostId: string;
let dataCalls = 0;
const mails: Received[] = [];
const posts: string[] = [];
let t = new Date("2026-12-06T12:00:00Z");
const clock = { now: () => t };

/** The header lines of a raw message, folded continuations joined. */
function headersOf(raw: string): string[] {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  return head.replace(/\r\n(?=[ \t])/g, "").split("\r\n");
}
const header = (raw: string, name: string) => headersOf(raw).find((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(name.length + 1).trim();
const bodyOf = (raw: string) => raw.slice(raw.indexOf("\r\n\r\n") + 4).replace(/=\r\n/g, "").replace(/\r\n/g, "\n");

/** CPU readings every interval over the last `seconds` up to the clock's now. */
async function cpuReadings(pct: number, seconds: number): Promise<void> {
  const n = seconds / (INTERVAL_MS / 1000);
  await db().hostMetric.createMany({
    data: Array.from({ length: n + 1 }, (_, i) => ({ hostId, at: new Date(t.getTime() - (n - i) * INTERVAL_MS), step: INTERVAL_MS / 1000, cpuPct: pct, memoryUsedMiB: 100, memoryTotalMiB: 1000, diskFreeGiB: null, vmCount: 0 })),
  });
}

beforeAll(async () => {
  smtp = new SMTPServer({
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        // The first message is refused for now: the sender must try it again.
        if (dataCalls++ === 0) return callback(Object.assign(new Error("try again later"), { responseCode: 451 }));
        mails.push({ mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null, rcptTo: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString("utf8") });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  webhookReceiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      posts.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => webhookReceiver.listen(0, "127.0.0.1", resolve));
  ENV.VMDESK_SMTP_URL = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
  ENV.VMDESK_ALERT_WEBHOOK_URL = `http://127.0.0.1:${(webhookReceiver.address() as AddressInfo).port}/hook`;
  Object.assign(process.env, ENV);
  const seeded = await seedDatabase("vmdesk_it_alert_email");
  hostId = seeded.hostId;
  // Host names come from admins: this one tries to start a header of its own.
  await db().host.update({ where: { id: hostId }, data: { name: HOST_NAME } });
}, 120_000);

afterAll(async () => {
  await disconnectDb();
  for (const k of Object.keys(ENV)) delete process.env[k];
  await new Promise<void>((r) => smtp?.close(r));
  await new Promise((r) => webhookReceiver?.close(r));
});

describe("alert e-mail", () => {
  it("a fired alert is e-mailed to the recipients (retried after a 451), its resolve too; webhooks stay separate", async () => {
    const email = alertEmailSettings();
    expect(email).toMatchObject({ to: ["ops@example.org", "oncall@example.org"], from: "vmdesk@example.org", alertsUrl: "https://vmdesk.example.org/admin/alerts" });
    const webhook = { url: config().VMDESK_ALERT_WEBHOOK_URL, secret: undefined };
    const evaluator = new AlertEvaluator(db(), clock, INTERVAL_MS, webhook, email);
    const emails = new AlertEmailSender(db(), clock, email);
    const webhooks = new WebhookSender(db(), clock, webhook);

    await cpuReadings(95, 60);
    await evaluator.evaluateOnce();
    const fired = await db().alert.findFirstOrThrow({ where: { kind: "host.cpu", hostId } });
    expect(fired.state).toBe("firing");
    // One row per channel, queued with the alert.
    expect(await db().webhookDelivery.findMany({ where: { alertId: fired.id }, select: { channel: true, event: true }, orderBy: { channel: "asc" } })).toEqual([
      { channel: "webhook", event: "fired" },
      { channel: "email", event: "fired" },
    ]);

    // First attempt: the server answers 451; the row waits for its backoff.
    await emails.sendDue();
    expect(mails).toHaveLength(0);
    const refused = await db().webhookDelivery.findFirstOrThrow({ where: { alertId: fired.id, channel: "email" } });
    expect(refused).toMatchObject({ attempts: 1, deliveredAt: null });
    expect(refused.lastError).toMatch(/451/);
    expect(refused.nextAttemptAt.getTime()).toBe(t.getTime() + 2_000);
    await emails.sendDue();
    expect(dataCalls).toBe(1); // not due yet
    // The e-mail sender left the webhook's row alone.
    expect(await db().webhookDelivery.findFirstOrThrow({ where: { alertId: fired.id, channel: "webhook" } })).toMatchObject({ attempts: 0, deliveredAt: null });

    t = new Date(t.getTime() + 2_000);
    await emails.sendDue();
    expect(mails).toHaveLength(1);
    const first = mails[0]!;
    expect(first.mailFrom).toBe("vmdesk@example.org");
    expect(first.rcptTo).toEqual(["ops@example.org", "oncall@example.org"]);
    expect(header(first.raw, "Subject")).toBe("[vmdesk] FIRING: CPU of host lab1 Bcc: intruder@example.net above 80 %");
    expect(header(first.raw, "To")).toBe("ops@example.org, oncall@example.org");
    expect(header(first.raw, "Message-ID")).toBe(`<alert-${fired.id}.fired@example.org>`);
    expect(headersOf(first.raw).filter((h) => /^bcc:/i.test(h))).toEqual([]);
    const body = bodyOf(first.raw);
    expect(body).toContain("Kind:      host.cpu");
    expect(body).toContain("Value:     95.0 %");
    expect(body).toContain("Threshold: 80 %");
    expect(body).toContain(`Fired:     ${fired.firedAt.toISOString()}`);
    expect(body).toContain("Alerts page: https://vmdesk.example.org/admin/alerts");
    expect(await db().webhookDelivery.findFirstOrThrow({ where: { alertId: fired.id, channel: "email" } })).toMatchObject({ attempts: 2, lastError: null, deliveredAt: t });

    await webhooks.sendDue();
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0]!)).toMatchObject({ event: "fired", alert: { id: fired.id, kind: "host.cpu" } });

    // CPU back down for a whole window: resolved, and a second message answers the first.
    t = new Date(t.getTime() + 70_000);
    await cpuReadings(10, 60);
    await evaluator.evaluateOnce();
    expect(await db().alert.findUniqueOrThrow({ where: { id: fired.id } })).toMatchObject({ state: "resolved", resolvedAt: t });
    await emails.sendDue();
    expect(mails).toHaveLength(2);
    const second = mails[1]!;
    expect(second.rcptTo).toEqual(["ops@example.org", "oncall@example.org"]);
    expect(header(second.raw, "Subject")).toBe("[vmdesk] RESOLVED: CPU of host lab1 Bcc: intruder@example.net above 80 %");
    expect(header(second.raw, "In-Reply-To")).toBe(`<alert-${fired.id}.fired@example.org>`);
    expect(bodyOf(second.raw)).toContain(`Resolved:  ${t.toISOString()}`);
    expect(await db().webhookDelivery.findFirstOrThrow({ where: { alertId: fired.id, channel: "email", event: "resolved" } })).toMatchObject({ attempts: 1, lastError: null });
    await webhooks.sendDue();
    expect(posts.map((p) => JSON.parse(p).event)).toEqual(["fired", "resolved"]);
    expect(mails).toHaveLength(2);
  });

  it("a server that never answers costs one bounded attempt, retried later", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const email = { ...alertEmailSettings()!, server: { host: "127.0.0.1", port: (silent.address() as AddressInfo).port, secure: false, auth: null } };
      const alert = await db().alert.findFirstOrThrow({ where: { kind: "host.cpu", hostId } });
      const row = await db().webhookDelivery.create({
        data: { alertId: alert.id, channel: "email", event: "fired", nextAttemptAt: t, body: JSON.stringify({ subject: "[vmdesk] test", text: "test\n", messageId: "<test@example.org>", inReplyTo: null }) },
      });
      const started = Date.now();
      await new AlertEmailSender(db(), clock, email, 500).sendDue();
      expect(Date.now() - started).toBeLessThan(3_000);
      const after = await db().webhookDelivery.findUniqueOrThrow({ where: { id: row.id } });
      expect(after).toMatchObject({ attempts: 1, deliveredAt: null });
      expect(after.lastError).toMatch(/greeting|timeout|no answer/i);
      expect(after.nextAttemptAt.getTime()).toBe(t.getTime() + 2_000);
      expect(sockets.length).toBeGreaterThan(0);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });
});
