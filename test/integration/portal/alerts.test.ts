/**
 * Threshold alerts end to end on the real host: with the CPU threshold lowered (30 % for 4 s), a guest
 * busy-looping on its serial console makes the host cross it; the alert fires once, is delivered to a
 * local webhook receiver with a valid HMAC signature (retried after the receiver's first 500), is
 * acknowledged (audited), and clears with hysteresis when the loop is killed, which is delivered too.
 */
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { bootedGuest, deleteQuietly, runOnSerial, type LocalGuest } from "../../support/guest-serial.ts";
import { startPortal, waitFor, type Portal } from "../../support/harness.ts";

const SECRET = "webhook-secret-for-tests";
let portal: Portal;
let tenant: AuthenticatedUser;
let vm: LocalGuest | null = null;
let receiver: http.Server;
const received: Array<{ status: number; signature: string | undefined; body: string }> = [];

beforeAll(async () => {
  let calls = 0;
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      // The first delivery fails: the sender must retry it.
      const status = calls++ === 0 ? 500 : 200;
      received.push({ status, signature: req.headers["x-vmdesk-signature"] as string | undefined, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  process.env.VMDESK_METRICS_INTERVAL_MS = "2000";
  process.env.VMDESK_ALERT_WEBHOOK_URL = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  process.env.VMDESK_ALERT_WEBHOOK_SECRET = SECRET;
  portal = await startPortal("vmdesk_it_alerts");
  tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
}, 120_000);

afterAll(async () => {
  await deleteQuietly(portal, tenant, vm);
  await portal?.close();
  for (const k of ["VMDESK_METRICS_INTERVAL_MS", "VMDESK_ALERT_WEBHOOK_URL", "VMDESK_ALERT_WEBHOOK_SECRET"]) delete process.env[k];
  await new Promise((r) => receiver?.close(r));
}, 120_000);

const sign = (body: string) => `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;

describe("alerts", () => {
  it("a host over its CPU threshold fires one alert, delivered (retried) and signed; ack is audited; it clears with hysteresis", { timeout: 300_000 }, async () => {
    const admin = portal.caller(portal.admin);
    await expect(portal.caller(tenant).alert.list()).rejects.toMatchObject({ code: "FORBIDDEN" });
    // Memory and disk at 100 %: only CPU can fire here.
    expect(await admin.alert.setThresholds({ cpu: { abovePct: 30, windowS: 4 }, memory: { abovePct: 100 }, disk: { abovePct: 100 } })).toMatchObject({ cpu: { abovePct: 30, windowS: 4 }, memory: { abovePct: 100, windowS: 60 } });

    vm = await bootedGuest(portal, tenant, "hot");
    await runOnSerial(vm.domainName, "(while :; do :; done) & echo $! > /tmp/busy.pid", "vmdesk-busy-started", 30_000);

    const fired = await waitFor("the CPU alert firing", async () => (await admin.alert.list()).find((a) => a.kind === "host.cpu" && a.hostId === portal.hostId), 60_000, 500);
    expect(fired).toMatchObject({ state: "firing", threshold: 30, subject: "host local", resolvedAt: null });
    expect(fired.value).toBeGreaterThan(30);

    // Delivered after one retry, signed over the exact body.
    await waitFor("the fired webhook delivered", async () => received.filter((r) => r.status === 200).length >= 1, 30_000, 250);
    expect(received[0]!.status).toBe(500);
    const delivered = received.find((r) => r.status === 200)!;
    expect(delivered.body).toBe(received[0]!.body);
    expect(delivered.signature).toBe(sign(delivered.body));
    expect(JSON.parse(delivered.body)).toMatchObject({ event: "fired", alert: { id: fired.id, kind: "host.cpu", state: "firing" } });
    expect(await db().webhookDelivery.findFirst({ where: { alertId: fired.id, event: "fired" } })).toMatchObject({ attempts: 2, lastError: null });

    const acked = await admin.alert.ack({ id: fired.id });
    expect(acked.ackedById).toBe(portal.admin.id);
    expect(await db().auditEvent.count({ where: { action: "alert.ack", targetId: fired.id } })).toBe(1);

    // Still firing while the loop runs: one alert, not one per reading.
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await admin.alert.list()).filter((a) => a.kind === "host.cpu")).toHaveLength(1);

    await runOnSerial(vm.domainName, "kill $(cat /tmp/busy.pid)", "vmdesk-busy-killed", 30_000);
    const resolved = await waitFor("the CPU alert resolved", async () => {
      const a = await db().alert.findUniqueOrThrow({ where: { id: fired.id } });
      return a.state === "resolved" ? a : null;
    }, 60_000, 500);
    expect(resolved.openKey).toBeNull();
    await waitFor("the resolved webhook delivered", async () => received.some((r) => r.status === 200 && JSON.parse(r.body).event === "resolved"), 30_000, 250);
    const r = received.find((x) => x.status === 200 && JSON.parse(x.body).event === "resolved")!;
    expect(r.signature).toBe(sign(r.body));
    expect(await db().auditEvent.count({ where: { targetId: fired.id, action: { in: ["alert.fire", "alert.resolve"] } } })).toBe(2);
    expect((await admin.alert.list({ state: "all" })).find((a) => a.id === fired.id)).toMatchObject({ state: "resolved" });
  });
});
