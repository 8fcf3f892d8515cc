/**
 * The console proxy against the real demo guest: the real ConsoleProxy on a real HTTP server (the same
 * upgrade path server/main.ts wires), tickets from the real console.open procedure, VNC and serial of
 * a QEMU guest on qemu:///system. The proxy's clock is injected so expiry is deterministic.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { handleRestRequest } from "../../../server/api/rest.ts";
import { openApiDocument } from "../../../server/api/openapi.ts";
import { openApiChecker } from "../../support/openapi-check.ts";
import { PgConsoleStore } from "../../../server/console/pg-store.ts";
import { ConsoleProxy } from "../../../server/console/proxy.ts";
import { TICKET_PROTOCOL_PREFIX, hashTicket } from "../../../server/console/tickets.ts";
import { db } from "../../../server/db/client.ts";
import { parseDomainXml } from "../../../server/hypervisor/xml/index.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";
import { rawHttpExchange } from "../../support/raw-upgrade.ts";

let portal: Portal;
let server: http.Server;
let proxy: ConsoleProxy;
let store: PgConsoleStore;
let port = 0;
let origin = "";
let clockOffsetMs = 0;
let alice: AuthenticatedUser;
let bob: AuthenticatedUser;
let vm1: { id: string; domainName: string };

type Api = ReturnType<Portal["caller"]>;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_console");
  server = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  process.env.NEXTAUTH_URL = origin;
  // Wired as server/main.ts wires it: the proxy's own pg store, no Prisma client on its data path.
  store = PgConsoleStore.connect(process.env.DATABASE_URL!, 4);
  proxy = new ConsoleProxy({
    store,
    hosts: portal.background!.hosts,
    portalOrigin: origin,
    clock: { now: () => new Date(Date.now() + clockOffsetMs) },
    limits: { idleTimeoutS: 600, maxSessionS: 3600, maxPerUser: 30, maxPerVm: 30, pingS: 15 },
  });
  proxy.start();
  server.on("upgrade", (req, socket, head) => {
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
  alice = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 2 }, "alice-console");
  bob = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 }, "bob-console");
  vm1 = await createRunningVm(portal.caller(alice), "console-one");
}, 240_000);

afterAll(async () => {
  await proxy?.drain(1000);
  await store?.close();
  await new Promise((r) => server?.close(r));
  for (const vm of await db().vm.findMany({ where: { deletedAt: null, state: { not: "deleting" } }, select: { id: true, ownerId: true } })) {
    const owner = vm.ownerId === alice?.id ? alice : bob;
    const del = await portal.caller(owner).vm.delete({ id: vm.id }).catch(() => null);
    if (del) await settle(portal, owner, del.operation.id).catch(() => undefined);
  }
  await portal?.close();
}, 180_000);

async function createRunningVm(api: Api, name: string) {
  const created = await api.vm.create({ name, imageId: portal.imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
  const owner = created.vm.owner.id === alice.id ? alice : bob;
  expect((await settle(portal, owner, created.operation.id)).status).toBe("succeeded");
  const log = serialLogPath(created.vm.domainName);
  await waitFor("guest ready on serial", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 120_000);
  return { id: created.vm.id, domainName: created.vm.domainName };
}

/** A raw HTTP upgrade: everything the server sends back within `ms` (or until it closes). */
function rawUpgrade(path: string, headers: Record<string, string>, ms = 3000): Promise<{ status: number; bytes: Buffer }> {
  const lines = ["Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`, "Sec-WebSocket-Version: 13"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return rawHttpExchange(port, path, lines, ms);
}

/** Expects a plain HTTP refusal with that status and not one byte of RFB. */
async function expectRefused(path: string, headers: Record<string, string>, status: number) {
  const r = await rawUpgrade(path, headers);
  expect({ status: r.status, rfb: r.bytes.includes("RFB ") }).toEqual({ status, rfb: false });
  expect(r.bytes.toString("latin1")).not.toContain("101 Switching");
}

const protocolHeader = (t: { protocols: string[] }) => ({ "Sec-WebSocket-Protocol": t.protocols.join(", ") });

/** A websocket client that buffers what it receives and can wait for N bytes or a substring. */
class Client {
  readonly ws: WebSocket;
  private buf = Buffer.alloc(0);
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string; at: number }>;

  constructor(t: { url: string; protocols: string[] }, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(t.url, t.protocols, { headers, perMessageDeflate: false });
    this.ws.on("message", (d: Buffer) => (this.buf = Buffer.concat([this.buf, d])));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
      this.ws.once("error", reject);
    });
    this.closed = new Promise((resolve) => this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));
  }

  async read(n: number, timeoutMs = 10_000): Promise<Buffer> {
    await waitFor(`${n} bytes`, async () => this.buf.length >= n, timeoutMs, 10);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  text(): string {
    return this.buf.toString("latin1");
  }

  send(bytes: number[] | Buffer) {
    this.ws.send(Buffer.from(bytes));
  }
}

/** RFB 3.8 client side with security None, up to and including ServerInit. */
async function rfbHandshake(c: Client): Promise<string> {
  const version = (await c.read(12)).toString("latin1");
  c.send(Buffer.from("RFB 003.008\n", "latin1"));
  const n = (await c.read(1))[0]!;
  const types = [...(await c.read(n))];
  expect(types).toContain(1);
  c.send([1]);
  expect((await c.read(4)).readUInt32BE(0)).toBe(0);
  c.send([0]); // asks for exclusive access; the proxy forces shared
  const init = await c.read(24);
  await c.read(init.readUInt32BE(20));
  return version;
}

const SHIFTED: Record<string, number> = { ">": 0x3e };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Types a line on the guest's VGA console, as a keyboard would (Shift held for shifted keys). */
async function typeLine(c: Client, line: string) {
  const key = (sym: number, down: boolean) => c.send([4, down ? 1 : 0, 0, 0, (sym >>> 24) & 0xff, (sym >>> 16) & 0xff, (sym >>> 8) & 0xff, sym & 0xff]);
  for (const ch of line) {
    const shifted = SHIFTED[ch] !== undefined;
    if (shifted) key(0xffe1, true);
    key(ch.charCodeAt(0), true);
    key(ch.charCodeAt(0), false);
    if (shifted) key(0xffe1, false);
    await sleep(25);
  }
  key(0xff0d, true);
  key(0xff0d, false);
}

/** The REST API exactly as app/api/v1 serves it (the same handler), without Next. */
async function rest(token: string, method: string, urlPath: string, body?: unknown) {
  const req = new Request(`${origin}/api/v1${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const res = await handleRestRequest(req);
  const json = (await res.json()) as Record<string, unknown>;
  (await openApiChecker(origin, async () => openApiDocument())).check({ method, path: urlPath, status: res.status, body: json, headers: res.headers });
  return { status: res.status, body: json };
}

const marker = () => `mk${randomBytes(6).toString("hex")}`;
const serialLog = (domainName: string) => fs.readFileSync(serialLogPath(domainName), "utf8");

describe("console proxy on a real guest", () => {
  it("serves RFB 003.008 through the proxy, and typed keys reach the guest (read back through the serial proxy and the log)", async () => {
    const api = portal.caller(alice);
    const serialTicket = await api.console.open({ id: vm1.id, kind: "serial" });
    expect(serialTicket.url).toBe(`ws://127.0.0.1:${port}/ws/serial`);
    const serial = new Client(serialTicket);
    await serial.opened;
    expect(serial.ws.protocol).toBe("binary");

    const t = await api.console.open({ id: vm1.id });
    expect(t).toMatchObject({ url: `ws://127.0.0.1:${port}/ws/console`, mode: "control", kind: "vnc" });
    expect(t.protocols).toHaveLength(2);
    expect(t.protocols[1]).toBe("binary");
    expect(t.url).not.toContain(t.protocols[0]!.slice("vmdesk-ticket.".length));
    expect(t.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    const vnc = new Client(t, { Origin: origin });
    await vnc.opened;
    expect(vnc.ws.protocol).toBe("binary");
    expect(await rfbHandshake(vnc)).toBe("RFB 003.008\n");
    // The display has no TCP port at all: QEMU serves it on a unix socket in the domain's private directory.
    const live = parseDomainXml(await portal.background!.hosts.get({ id: portal.hostId, uri: "qemu:///system" }).domainXml(vm1.domainName));
    expect(live.vnc).toEqual({ port: null, socketPath: expect.stringMatching(/^\/var\/lib\/libvirt\/qemu\/domain-\d+-[^/]+\/vnc\.sock$/) });

    const m = marker();
    await typeLine(vnc, "");
    await typeLine(vnc, `echo ${m} > /dev/ttyS0`);
    await waitFor("marker on the serial websocket", async () => serial.text().includes(m), 20_000);
    await waitFor("marker in the serial log", async () => serialLog(vm1.domainName).includes(m), 5_000);
    vnc.ws.close();
    serial.ws.close();
    await Promise.all([vnc.closed, serial.closed]);

    await waitFor("session audited", async () => {
      const rows = await db().auditEvent.findMany({ where: { action: "console.session", actorId: alice.id, targetId: vm1.id } });
      return rows.find((r) => (r.detail as { kind?: string }).kind === "vnc" && (r.detail as { bytesFromClient?: number }).bytesFromClient! > 0);
    });
    const opened = await db().auditEvent.findMany({ where: { action: "console.open", actorId: alice.id } });
    expect(opened.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(opened)).not.toContain(t.protocols[0]!.slice("vmdesk-ticket.".length));
  });

  it("view mode: keystrokes never reach the guest; the same in control mode do", async () => {
    const api = portal.caller(alice);
    const m = marker();
    const view = new Client(await api.console.open({ id: vm1.id, mode: "view" }), { Origin: origin });
    await view.opened;
    await rfbHandshake(view);
    await typeLine(view, "");
    await typeLine(view, `echo ${m} > /dev/ttyS0`);
    await sleep(3000);
    expect(serialLog(vm1.domainName)).not.toContain(m);
    view.ws.close();

    const control = new Client(await api.console.open({ id: vm1.id, mode: "control" }));
    await control.opened;
    await rfbHandshake(control);
    await typeLine(control, "");
    await typeLine(control, `echo ${m} > /dev/ttyS0`);
    await waitFor("marker typed in control mode", async () => serialLog(vm1.domainName).includes(m), 20_000);
    control.ws.close();
  });

  it("refuses with a plain HTTP status and zero RFB bytes: no ticket, malformed, expired, replayed, wrong Origin, wrong kind", async () => {
    const api = portal.caller(alice);
    await expectRefused("/ws/console", {}, 401);
    await expectRefused("/ws/console", { "Sec-WebSocket-Protocol": "binary" }, 401);
    await expectRefused("/ws/console", { "Sec-WebSocket-Protocol": "vmdesk-ticket.not-a-ticket, binary" }, 401);
    await expectRefused("/ws/console", { "Sec-WebSocket-Protocol": `vmdesk-ticket.${randomBytes(32).toString("base64url")}, binary` }, 401);

    const expiring = await api.console.open({ id: vm1.id });
    clockOffsetMs = 31_000;
    try {
      await expectRefused("/ws/console", protocolHeader(expiring), 401);
    } finally {
      clockOffsetMs = 0;
    }

    const once = await api.console.open({ id: vm1.id });
    const first = new Client(once);
    await first.opened;
    await expectRefused("/ws/console", protocolHeader(once), 401);
    first.ws.close();

    await expectRefused("/ws/console", { ...protocolHeader(await api.console.open({ id: vm1.id })), Origin: "http://evil.example" }, 403);
    await expectRefused("/ws/console", { ...protocolHeader(await api.console.open({ id: vm1.id })), Origin: `http://localhost:${port}` }, 403);
    await expectRefused("/ws/serial", protocolHeader(await api.console.open({ id: vm1.id, kind: "vnc" })), 403);
  });

  it("another user cannot get a ticket for the VM (404), and a ticket stops working when its VM changes hands or the user is disabled", async () => {
    await expect(portal.caller(bob).console.open({ id: vm1.id })).rejects.toMatchObject({ code: "NOT_FOUND" });

    const handedOver = await portal.caller(alice).console.open({ id: vm1.id });
    await db().vm.update({ where: { id: vm1.id }, data: { ownerId: bob.id } });
    try {
      await expectRefused("/ws/console", protocolHeader(handedOver), 404);
    } finally {
      await db().vm.update({ where: { id: vm1.id }, data: { ownerId: alice.id } });
    }

    const admin = portal.caller(portal.admin);
    const beforeDisable = await portal.caller(alice).console.open({ id: vm1.id });
    const live = new Client(await portal.caller(alice).console.open({ id: vm1.id }));
    await live.opened;
    await admin.user.update({ id: alice.id, disabled: true });
    const t0 = Date.now();
    try {
      await expectRefused("/ws/console", protocolHeader(beforeDisable), 403);
      const closed = await live.closed;
      expect(closed.code).toBe(4003);
      expect(closed.at - t0).toBeLessThan(2500);
    } finally {
      await admin.user.update({ id: alice.id, disabled: false });
    }
  });

  it("REST: POST /vms/{id}/console → 201 {url, protocols, expiresAt, mode, kind}; 404 for someone else's VM; the ticket works", async () => {
    const aliceToken = (await portal.caller(alice).auth.createToken({ name: "console" })).token;
    const bobToken = (await portal.caller(bob).auth.createToken({ name: "console" })).token;
    const ok = await rest(aliceToken, "POST", `/vms/${vm1.id}/console`, { mode: "view", kind: "serial" });
    expect(ok.status).toBe(201);
    expect(Object.keys(ok.body).sort()).toEqual(["expiresAt", "kind", "mode", "protocols", "url"]);
    expect(ok.body).toMatchObject({ url: `ws://127.0.0.1:${port}/ws/serial`, mode: "view", kind: "serial" });
    const bare = await rest(aliceToken, "POST", `/vms/${vm1.id}/console`, {});
    expect(bare.body).toMatchObject({ url: `ws://127.0.0.1:${port}/ws/console`, mode: "control", kind: "vnc" });
    expect((await rest(bobToken, "POST", `/vms/${vm1.id}/console`, {})).status).toBe(404);
    const c = new Client(bare.body as { url: string; protocols: string[] });
    await c.opened;
    expect((await c.read(12)).toString("latin1")).toBe("RFB 003.008\n");
    c.ws.close();
  });

  it("20 concurrent redemptions of one ticket: exactly one connection", async () => {
    const t = await portal.caller(alice).console.open({ id: vm1.id });
    const results = await Promise.all(Array.from({ length: 20 }, () => rawUpgrade("/ws/console", protocolHeader(t), 2000)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 101)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(19);
    for (const r of results.filter((x) => x.status === 401)) expect(r.bytes.includes("RFB ")).toBe(false);
    // The one redemption is recorded; the table is UNLOGGED (a crash empties it, never revives a ticket).
    const rows = await db().$queryRaw<Array<{ consumed: number; persistence: string }>>`
      SELECT (SELECT count(*)::int FROM "ConsoleTicket" WHERE "consumedAt" IS NOT NULL AND "tokenHash" = ${hashTicket(t.protocols[0]!.slice(TICKET_PROTOCOL_PREFIX.length))}) AS consumed,
             (SELECT relpersistence::text FROM pg_class WHERE relname = 'ConsoleTicket') AS persistence`;
    expect(rows[0]).toEqual({ consumed: 1, persistence: "u" });
  });

  it("a minted VNC ticket's display is opened before the client connects and its connect uses it; a refused ticket's is closed unused", async () => {
    const api = portal.caller(alice);
    const hashOf = (t: { protocols: string[] }) => hashTicket(t.protocols[0]!.slice(TICKET_PROTOCOL_PREFIX.length));
    const adopted = proxy.preparedStats.adopted;
    const t = await api.console.open({ id: vm1.id });
    await waitFor("display prepared", async () => proxy.hasPreparedDisplay(hashOf(t)), 5000, 10);
    const c = new Client(t);
    await c.opened;
    expect(await rfbHandshake(c)).toBe("RFB 003.008\n");
    expect(proxy.preparedStats.adopted).toBe(adopted + 1);
    expect(proxy.hasPreparedDisplay(hashOf(t))).toBe(false);
    c.ws.close();
    await c.closed;

    // Handed to bob after the mint: the redemption refuses it (404) and its prepared display is closed.
    const handedOver = await api.console.open({ id: vm1.id });
    await waitFor("display prepared", async () => proxy.hasPreparedDisplay(hashOf(handedOver)), 5000, 10);
    await db().vm.update({ where: { id: vm1.id }, data: { ownerId: bob.id } });
    try {
      await expectRefused("/ws/console", protocolHeader(handedOver), 404);
    } finally {
      await db().vm.update({ where: { id: vm1.id }, data: { ownerId: alice.id } });
    }
    expect(proxy.hasPreparedDisplay(hashOf(handedOver))).toBe(false);
    expect(proxy.preparedStats.adopted).toBe(adopted + 1);

    // Serial tickets are never prepared (QEMU's socket chardev serves one client at a time).
    const serial = await api.console.open({ id: vm1.id, kind: "serial" });
    await sleep(300);
    expect(proxy.hasPreparedDisplay(hashOf(serial))).toBe(false);
  });

  it("a session is closed within 2 s of its VM being deleted; a ticket issued before is refused", async () => {
    const api = portal.caller(alice);
    const vm2 = await createRunningVm(api, "console-two");
    const pending = await api.console.open({ id: vm2.id });
    const live = new Client(await api.console.open({ id: vm2.id }));
    await live.opened;
    await rfbHandshake(live);
    const requested = Date.now();
    const del = await api.vm.delete({ id: vm2.id });
    const closed = await live.closed;
    expect(closed.code).toBe(4004);
    expect(closed.reason).toBe("VM deleted");
    expect(closed.at - requested).toBeLessThan(2000);
    await expectRefused("/ws/console", protocolHeader(pending), 404);
    await settle(portal, alice, del.operation.id);
  });

  it("a session whose VM leaves its host (live migration) ends as 'console lost' (4006, the client reconnects), not as deleted or stopped", async () => {
    const api = portal.caller(alice);
    const mover = await createRunningVm(api, "console-mover");
    const live = new Client(await api.console.open({ id: mover.id }));
    await live.opened;
    await rfbHandshake(live);
    // What a migration looks like from here: the VM row names its destination, and the domain
    // vanishes from this host (undefined with the source, its QEMU gone).
    const elsewhere = await db().host.create({ data: { name: "console-elsewhere", uri: "qemu+tls://192.0.2.10/system", poolPath: "/var/lib/vmdesk/pool", enabled: false } });
    await db().vm.update({ where: { id: mover.id }, data: { targetHostId: elsewhere.id } });
    virsh("undefine", "--nvram", mover.domainName);
    virsh("destroy", mover.domainName);
    const closed = await live.closed;
    expect(closed.code).toBe(4006);
    await db().vm.update({ where: { id: mover.id }, data: { targetHostId: null } });
    await db().host.delete({ where: { id: elsewhere.id } });
    await settle(portal, alice, (await api.vm.delete({ id: mover.id })).operation.id);
  });

  it("a session is closed within 2 s of its VM being stopped; a ticket issued before the stop is refused (412)", async () => {
    const api = portal.caller(alice);
    const pending = await api.console.open({ id: vm1.id });
    const live = new Client(await api.console.open({ id: vm1.id }));
    await live.opened;
    await rfbHandshake(live);
    const off = await api.vm.poweroff({ id: vm1.id });
    const stoppedAt = await waitFor("domain shut off", async () => ((await portal.background!.hosts.get({ id: portal.hostId, uri: "qemu:///system" }).domainState(vm1.domainName)) === "shutoff" ? Date.now() : null), 30_000, 50);
    const closed = await live.closed;
    expect(closed.code).toBe(4005);
    expect(closed.at - stoppedAt).toBeLessThan(2000);
    await settle(portal, alice, off.operation.id);
    await expectRefused("/ws/console", protocolHeader(pending), 412);
    await expect(api.console.open({ id: vm1.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    const token = (await api.auth.createToken({ name: "stopped" })).token;
    expect((await rest(token, "POST", `/vms/${vm1.id}/console`, {})).status).toBe(412);
  });
});
