/**
 * Console proxy hardening (issue 8) against the real demo guest, wired as server/main.ts wires it:
 * slots of refused handshakes released, NOTIFY payloads never trusted for where to connect, one
 * serial controller beside any number of view-only watchers, refused upgrades aggregated in the
 * audit log.
 */
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { PgConsoleStore } from "../../../server/console/pg-store.ts";
import { ConsoleProxy } from "../../../server/console/proxy.ts";
import { TICKET_PROTOCOL_PREFIX, hashTicket, newTicketSecret } from "../../../server/console/tickets.ts";
import { db } from "../../../server/db/client.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { settle, startPortal, waitFor, type Portal } from "../../support/harness.ts";
import { rawHttpExchange } from "../../support/raw-upgrade.ts";

const MAX_PER_VM = 3;
let portal: Portal;
let server: http.Server;
let proxy: ConsoleProxy;
let store: PgConsoleStore;
let port = 0;
let alice: AuthenticatedUser;
let vm: { id: string; domainName: string };

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_console_hardening");
  server = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
  process.env.NEXTAUTH_URL = `http://127.0.0.1:${port}`;
  store = PgConsoleStore.connect(process.env.DATABASE_URL!, 4);
  proxy = new ConsoleProxy({
    store,
    hosts: portal.background!.hosts,
    portalOrigin: `http://127.0.0.1:${port}`,
    clock: { now: () => new Date() },
    limits: { idleTimeoutS: 600, maxSessionS: 3600, maxPerUser: 30, maxPerVm: MAX_PER_VM, pingS: 15 },
  });
  proxy.start();
  server.on("upgrade", (req, socket, head) => {
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
  alice = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 }, "alice-hardening");
  const created = await portal.caller(alice).vm.create({ name: "hardening", imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
  expect((await settle(portal, alice, created.operation.id)).status).toBe("succeeded");
  vm = { id: created.vm.id, domainName: created.vm.domainName };
  await waitFor("guest ready on serial", async () => fs.existsSync(serialLogPath(vm.domainName)) && fs.readFileSync(serialLogPath(vm.domainName), "utf8").includes("vmdesk-demo-ready"), 120_000);
}, 240_000);

afterAll(async () => {
  await proxy?.drain(1000);
  await store?.close();
  await new Promise((r) => server?.close(r));
  if (vm) {
    const del = await portal.caller(alice).vm.delete({ id: vm.id }).catch(() => null);
    if (del) await settle(portal, alice, del.operation.id).catch(() => undefined);
  }
  await portal?.close();
}, 180_000);

/** A raw upgrade request with exactly these header lines; the status line's code (0 if none within `ms`). */
async function rawUpgrade(lines: string[], ms = 3000): Promise<number> {
  return (await rawHttpExchange(port, lines[0]!, lines.slice(1), ms)).status;
}

const key = () => `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`;

class Client {
  readonly ws: WebSocket;
  private buf = Buffer.alloc(0);
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(t: { url: string; protocols: string[] }) {
    this.ws = new WebSocket(t.url, t.protocols, { perMessageDeflate: false });
    this.ws.on("message", (d: Buffer) => (this.buf = Buffer.concat([this.buf, d])));
    this.ws.on("error", () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.ws.once("close", (code) => resolve(code)));
  }

  text(): string {
    return this.buf.toString("latin1");
  }

  async read(n: number): Promise<Buffer> {
    await waitFor(`${n} bytes`, async () => this.buf.length >= n, 10_000, 10);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

const marker = () => `mk${randomBytes(5).toString("hex")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("console proxy hardening", () => {
  it("handshakes ws refuses after the ticket was redeemed release their slot: then a valid admin connect to the same VM succeeds", async () => {
    const api = portal.caller(alice);
    const statuses: number[] = [];
    for (let i = 0; i < MAX_PER_VM + 3; i++) {
      const t = await api.console.open({ id: vm.id });
      const protocols = i % 2 === 0 ? t.protocols.join(", ") : `${t.protocols.join(", ")}, binary`;
      const version = i % 2 === 0 ? "12" : "13";
      statuses.push(await rawUpgrade(["/ws/console", "Upgrade: websocket", "Connection: Upgrade", key(), `Sec-WebSocket-Version: ${version}`, `Sec-WebSocket-Protocol: ${protocols}`]));
      // The ticket stays consumed.
      expect(await rawUpgrade(["/ws/console", "Upgrade: websocket", "Connection: Upgrade", key(), "Sec-WebSocket-Version: 13", `Sec-WebSocket-Protocol: ${t.protocols.join(", ")}`], 1000)).toBe(401);
    }
    expect(statuses).toEqual(statuses.map(() => 400));
    const admin = new Client(await portal.caller(portal.admin).console.open({ id: vm.id }));
    await admin.opened;
    expect((await admin.read(12)).toString("latin1")).toBe("RFB 003.008\n");
    admin.ws.close();
    await admin.closed;
    expect(proxy.sessionCount).toBe(0);
  });

  it("a password reset ends the user's open console (4003) within 2 s and voids a ticket minted before it (401)", async () => {
    const api = portal.caller(alice);
    const pending = await api.console.open({ id: vm.id });
    const live = new Client(await api.console.open({ id: vm.id }));
    await live.opened;
    expect((await live.read(12)).toString("latin1")).toBe("RFB 003.008\n");
    const resetAt = Date.now();
    await portal.caller(portal.admin).user.update({ id: alice.id, password: `reset-${randomBytes(8).toString("hex")}` });
    expect(await live.closed).toBe(4003);
    expect(Date.now() - resetAt).toBeLessThan(2000);
    expect(await rawUpgrade(["/ws/console", "Upgrade: websocket", "Connection: Upgrade", key(), "Sec-WebSocket-Version: 13", `Sec-WebSocket-Protocol: ${pending.protocols.join(", ")}`], 1000)).toBe(401);
    // A ticket minted after the reset works.
    const fresh = new Client(await api.console.open({ id: vm.id }));
    await fresh.opened;
    expect((await fresh.read(12)).toString("latin1")).toBe("RFB 003.008\n");
    fresh.ws.close();
    await fresh.closed;
  });

  it("a forged console-ticket NOTIFY naming a qemu+ext host makes the proxy connect nowhere new", async () => {
    const flag = path.join(os.tmpdir(), `vmdesk-forged-${randomUUID()}`);
    const script = `${flag}.sh`;
    fs.writeFileSync(script, `#!/bin/sh\ntouch ${flag}\n`, { mode: 0o755 });
    const opened: string[] = [];
    const off = portal.background!.hosts.onConnection((hostId) => opened.push(hostId));
    try {
      const evilUri = `qemu+ext:///system?command=${script}`;
      const forge = (tokenHash: string) =>
        db().$executeRaw`SELECT pg_notify('vmdesk_console_ticket', ${JSON.stringify({
          tokenHash,
          vmId: vm.id,
          kind: "vnc",
          expiresAtMs: Date.now() + 30_000,
          vmState: "running",
          hostId: randomUUID(),
          hostUri: evilUri,
          domainName: vm.domainName,
        })})`;
      // A hash no ticket has, and the hash of a real unredeemed ticket whose row was never announced.
      await forge(hashTicket(newTicketSecret()));
      const real = newTicketSecret();
      const { sessionVersion } = await db().user.findUniqueOrThrow({ where: { id: alice.id }, select: { sessionVersion: true } });
      await db().consoleTicket.create({ data: { tokenHash: hashTicket(real), userId: alice.id, vmId: vm.id, mode: "control", kind: "vnc", createdAt: new Date(), expiresAt: new Date(Date.now() + 30_000), sessionVersion } });
      await forge(hashTicket(real));
      await sleep(2000);
      expect({ flag: fs.existsSync(flag), opened }).toEqual({ flag: false, opened: [] });
      // The real ticket still works, through the host its VM row names.
      const c = new Client({ url: `ws://127.0.0.1:${port}/ws/console`, protocols: [`${TICKET_PROTOCOL_PREFIX}${real}`, "binary"] });
      await c.opened;
      expect((await c.read(12)).toString("latin1")).toBe("RFB 003.008\n");
      c.ws.close();
      await c.closed;
    } finally {
      off();
      fs.rmSync(script, { force: true });
      fs.rmSync(flag, { force: true });
    }
  });

  it("serial: a view-only watcher beside the owner's control session; both see the guest's output, the watcher's input is dropped; a second controller is refused", async () => {
    const api = portal.caller(alice);
    const watcher = new Client(await portal.caller(portal.admin).console.open({ id: vm.id, kind: "serial", mode: "view" }));
    await watcher.opened;
    const owner = new Client(await api.console.open({ id: vm.id, kind: "serial", mode: "control" }));
    await owner.opened;

    const typed = marker();
    owner.ws.send(Buffer.from(`\recho ${typed}-$((6*7))\r`));
    await waitFor("the owner's command output on the owner's session", async () => owner.text().includes(`${typed}-42`), 20_000);
    await waitFor("the same output on the watcher's session", async () => watcher.text().includes(`${typed}-42`), 5_000);

    const ignored = marker();
    watcher.ws.send(Buffer.from(`\recho ${ignored}\r`));
    await sleep(2500);
    expect(owner.text()).not.toContain(ignored);
    expect(watcher.text()).not.toContain(ignored);

    const second = new Client(await api.console.open({ id: vm.id, kind: "serial", mode: "control" }));
    await expect(second.opened).rejects.toThrow("refused 409");

    // The controller's slot is free again once it leaves; the watcher stays.
    owner.ws.close();
    await owner.closed;
    const next = new Client(await api.console.open({ id: vm.id, kind: "serial", mode: "control" }));
    await next.opened;
    const again = marker();
    next.ws.send(Buffer.from(`echo ${again}-$((6*7))\r`));
    await waitFor("output after a new controller joined", async () => next.text().includes(`${again}-42`) && watcher.text().includes(`${again}-42`), 20_000);
    next.ws.close();
    watcher.ws.close();
    await Promise.all([next.closed, watcher.closed]);
  });

  it("200 refused upgrades from one address are one aggregated audit row (a handful across a minute boundary)", async () => {
    const before = new Date(Date.now() - 1000);
    for (let batch = 0; batch < 10; batch++) {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => rawUpgrade(["/ws/console", "Upgrade: websocket", "Connection: Upgrade", key(), "Sec-WebSocket-Version: 13"], 2000)));
      expect(statuses).toEqual(statuses.map(() => 401));
    }
    const rows = await waitFor(
      "the refusals audited",
      async () => {
        const r = await db().auditEvent.findMany({ where: { at: { gte: before }, aggregateKey: { startsWith: "console.connect|denied|127.0.0.1|no console ticket|" } } });
        return r.reduce((n, x) => n + x.count, 0) >= 200 ? r : null;
      },
      10_000,
      100,
    );
    expect(rows.reduce((n, x) => n + x.count, 0)).toBe(200);
    expect(rows.length).toBeLessThanOrEqual(2);
    for (const r of rows) expect(r.aggregateKey).toMatch(/^console\.connect\|denied\|127\.0\.0\.1\|no console ticket\|\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
  });
});
