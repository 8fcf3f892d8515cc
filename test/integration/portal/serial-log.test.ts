import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleRestRequest } from "../../../server/api/rest.ts";
import { db } from "../../../server/db/client.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { bootedGuest, deleteQuietly, runOnSerial, type LocalGuest } from "../../support/guest-serial.ts";
import { startPortal, waitFor, type Portal } from "../../support/harness.ts";

// A small cap so the flood below rotates quickly: at most 2 × 64 KiB are kept.
const CAP = 64 * 1024;
const FOLLOW_CAP = 2;
let portal: Portal;
let alice: AuthenticatedUser;
let bob: AuthenticatedUser;
let guest: LocalGuest | null = null;
let aliceToken: string;
let bobToken: string;

beforeAll(async () => {
  process.env.VMDESK_SERIAL_LOG_MAX_BYTES = String(CAP);
  process.env.VMDESK_SERIAL_LOG_INTERVAL_MS = "500";
  process.env.VMDESK_SERIAL_FOLLOW_MAX_PER_USER = String(FOLLOW_CAP);
  portal = await startPortal("vmdesk_it_serial_log");
  alice = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  bob = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  aliceToken = (await portal.caller(alice).auth.createToken({ name: "serial" })).token;
  bobToken = (await portal.caller(bob).auth.createToken({ name: "serial" })).token;
}, 120_000);
afterAll(async () => {
  if (portal) await deleteQuietly(portal, alice, guest);
  await portal?.close();
  delete process.env.VMDESK_SERIAL_LOG_MAX_BYTES;
  delete process.env.VMDESK_SERIAL_LOG_INTERVAL_MS;
  delete process.env.VMDESK_SERIAL_FOLLOW_MAX_PER_USER;
});

function get(token: string, urlPath: string, signal?: AbortSignal): Promise<Response> {
  return handleRestRequest(new Request(`http://localhost/api/v1${urlPath}`, { headers: { authorization: `Bearer ${token}` }, signal }));
}

async function json(token: string, urlPath: string) {
  const res = await get(token, urlPath);
  return { status: res.status, body: (await res.json()) as { text: string; bytes: number; start: number; end: number; truncated: boolean; kept: number; code?: string } };
}

describe("per-VM serial log", () => {
  it("keeps the guest's serial output for its owner only, bounded, rotated and followable", async () => {
    guest = await bootedGuest(portal, alice, "serial-log");
    const base = `/vms/${guest.id}/serial-log`;

    // The readiness banner arrives through the portal's own copy of the log.
    const first = await waitFor("banner in the kept serial log", async () => {
      const r = await json(aliceToken, base);
      return r.status === 200 && r.body.text.includes("vmdesk-demo-ready") ? r.body : null;
    }, 30_000);
    expect(first.truncated).toBe(false);
    expect(first.end).toBeGreaterThan(0);

    // Someone else's VM does not exist, in every form.
    expect((await json(bobToken, base)).status).toBe(404);
    expect((await get(bobToken, `${base}?download=1`)).status).toBe(404);
    expect((await get(bobToken, `${base}?follow=1`)).status).toBe(404);
    expect((await get("vmdesk_not-a-token", `${base}?download=1`)).status).toBe(401);

    // Tails are bounded by what was asked and by the input limits.
    const tail = await json(aliceToken, `${base}?tail=100`);
    expect(tail.status).toBe(200);
    expect(tail.body.bytes).toBeLessThanOrEqual(100);
    expect(tail.body.end - tail.body.start).toBe(tail.body.bytes);
    const lines = await json(aliceToken, `${base}?tail=3&unit=lines`);
    expect(lines.body.text.replace(/\n$/, "").split("\n").length).toBeLessThanOrEqual(3);
    expect((await json(aliceToken, `${base}?tail=99999999`)).status).toBe(400);
    expect((await json(aliceToken, `${base}?tail=20000&unit=lines`)).status).toBe(400);
    expect((await json(aliceToken, `${base}?tail=-1`)).status).toBe(400);

    const dl = await get(aliceToken, `${base}?download=1`);
    expect(dl.status).toBe(200);
    expect(dl.headers.get("content-disposition")).toMatch(/^attachment; filename="serial-log-[0-9a-f]{8}-serial\.log"$/);
    expect(await dl.text()).toContain("vmdesk-demo-ready");

    // Follow: a live stream of what the guest prints from now on.
    const abort = new AbortController();
    const follow = await get(aliceToken, `${base}?follow=1&after=${first.end}`, abort.signal);
    expect(follow.status).toBe(200);
    expect(follow.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = follow.body!.getReader();
    let streamed = "";
    const followed = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        streamed += decoder.decode(value);
        if (streamed.includes("flood-line")) return;
      }
    })();

    // A flood on the serial console: far more than two segments.
    const line = `flood-line-${"x".repeat(60)}`;
    await runOnSerial(guest.domainName, `yes ${line} | head -n 4000`, "flood-done", 240_000);
    await Promise.race([followed, new Promise((_, reject) => setTimeout(() => reject(new Error("follow saw no flood")), 30_000))]);
    abort.abort();
    await reader.cancel().catch(() => undefined);
    expect(streamed).toMatch(/^id: \d+\ndata: \{/m);

    // A tenant opening follow streams without end (each one a poll loop for an hour): FOLLOW_CAP at
    // a time, the next refused with 429 naming the limit; closing one frees its slot.
    const open: ReadableStreamDefaultReader<Uint8Array>[] = [];
    for (let i = 0; i < FOLLOW_CAP; i++) {
      const res = await waitFor(`follow stream ${i + 1}`, async () => {
        const r = await get(aliceToken, `${base}?follow=1`);
        if (r.status === 200) return r;
        await r.body?.cancel();
        return null;
      }, 5_000);
      open.push(res.body!.getReader());
    }
    const refused = await get(aliceToken, `${base}?follow=1`);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { message: string }).message).toContain(`at most ${FOLLOW_CAP}`);
    await open.pop()!.cancel();
    const again = await get(aliceToken, `${base}?follow=1`);
    expect(again.status).toBe(200);
    await again.body!.cancel();
    for (const r of open) await r.cancel();

    const after = await waitFor("the flood kept and rotated", async () => {
      const r = await json(aliceToken, `${base}?tail=${4 * CAP}`);
      return r.body.text.includes("flood-done") ? r.body : null;
    }, 30_000);
    expect(after.end).toBeGreaterThan(4000 * line.length);
    expect(after.kept).toBeLessThanOrEqual(2 * CAP);
    expect(after.bytes).toBeLessThanOrEqual(2 * CAP);
    expect(after.truncated).toBe(true);
    expect(after.text).not.toContain("vmdesk-demo-ready");
    const row = await db().vmSerialLog.findUniqueOrThrow({ where: { vmId: guest.id } });
    expect(row.current.length).toBeLessThanOrEqual(CAP);
    expect(row.previous.length).toBeLessThanOrEqual(CAP);
    const whole = await (await get(aliceToken, `${base}?download=1`)).arrayBuffer();
    expect(whole.byteLength).toBeLessThanOrEqual(2 * CAP);

    // What came after a position that was rotated away: from the oldest kept byte, flagged.
    const behind = await json(aliceToken, `${base}?after=0`);
    expect(behind.body.truncated).toBe(true);
    expect(behind.body.start).toBe(after.end - after.kept);
  }, 420_000);
});
