/**
 * The console proxy: websocket (browser or API client) ↔ the VM's VNC display or serial socket.
 *
 * Everything is decided before the upgrade is accepted — Origin, ticket (consumed atomically), user
 * still active, policy, VM running, target resolved from the VM's live domain XML on its host (the
 * client never names a host or port) and the TCP/unix connection to it opened. Any refusal is a plain
 * HTTP status with a one-line text body, so a refused client never sees a single RFB byte.
 *
 * Prepared displays: when a VNC ticket is minted (any process; announced over LISTEN/NOTIFY), the
 * proxy opens that VM's display right away, so the client's connect finds it open, its greeting
 * already read. The announcement carries only the ticket's hash: where to connect (host URI, domain)
 * is read from the ticket's rows, so a forged NOTIFY can at most name a ticket that exists. Nothing
 * of it reaches anyone before the ticket is redeemed and every check above has passed; a prepared
 * connection that does not match the redeemed VM, has closed, or outlives its ticket is discarded.
 * Serial consoles are not prepared.
 *
 * Serial: QEMU's socket chardev serves one client at a time, so all serial sessions of a VM share one
 * connection (a SerialHub): the guest's output goes to each, input is taken from the one control
 * session only. View-only watchers never keep a controller out; a second controller is refused (409)
 * until the first leaves. A watcher that falls SLOW_CLIENT_MAX behind is closed (4008) rather than
 * holding the others back.
 *
 * Memory is bounded per message, per session and in total: websocket frames are at most
 * WS_MAX_PAYLOAD (larger ones close the session with 1009), the RFB filter holds at most
 * FILTER_HELD_MAX bytes and streams ClientCutText instead of buffering it, a slow display pauses the
 * client's socket and a slow client pauses the display's (each side keeps about HIGH_WATER queued),
 * and a process serves at most `maxTotal` sessions. A hostile session costs its own bounded memory.
 *
 * Live sessions are re-authorized: a batched re-check of every session once a second, plus an
 * immediate one on every VM change notification, closes a session within ~1 s when its VM stops, is
 * deleted or changes owner, or its user is disabled. Sessions also end on idle timeout, maximum
 * length, a dead peer (ping/pong) and server shutdown (drain). Every session is audited on close.
 *
 * Close codes (the browser shows them; keep in sync with the client):
 *   1001 going away          — the portal is shutting down; reconnect with a new ticket
 *   4001 session expired     — VMDESK_CONSOLE_MAX_SESSION_S reached; reconnect with a new ticket
 *   4002 idle timeout        — no traffic either way for VMDESK_CONSOLE_IDLE_TIMEOUT_S
 *   4003 access revoked      — user disabled, password reset or role changed (sessionVersion), VM given to another owner
 *   4004 VM deleted          — the VM is being or has been deleted
 *   4005 VM is stopped       — the VM is no longer running (stopped, paused for long, error, missing)
 *   4006 console lost        — the VM's display/serial connection closed for another reason
 *   4007 protocol violation  — the client sent something the RFB filter cannot frame (fail closed)
 *   4008 client too slow     — a serial watcher fell SLOW_CLIENT_MAX bytes behind the guest's output
 *   4009 client sent too much — over its input budget for FLOOD_CLOSE_MS on end (see input-budget.ts)
 *   1009 message too big     — (sent by ws) a frame or message longer than WS_MAX_PAYLOAD
 * A peer that stops answering pings is terminated without a close frame (client sees 1006).
 */
import type { IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { onConsoleTicketMinted, onVmChange } from "../db/notify.ts";
import { isLocalHostUri } from "../domain/host-uri.ts";
import { can, canSee, type Role } from "../domain/policy.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { parseDomainXml } from "../hypervisor/xml/index.ts";
import type { Clock } from "../jobs/clock.ts";
import { config } from "../config.ts";
import { log } from "../log.ts";
import { consoleTarget } from "../services/vm-access.ts";
import { FLOOD_CLOSE_MS, INPUT_BUDGET, InputBudget } from "./input-budget.ts";
import { CUT_TEXT_MAX, RfbClientFilter, RfbProtocolError } from "./rfb-filter.ts";
import type { ConsoleAuditRow, ConsoleStore, TicketTarget } from "./store.ts";
import { frontForConsole } from "./private-socket.ts";
import { frontForDisplay, openVncOverTls, portalTlsCredentials } from "./vnc-tls.ts";
import { DATA_PROTOCOL, hashTicket, ticketFromProtocols, type ConsoleKind, type ConsoleMode } from "./tickets.ts";

export const CLOSE = {
  GOING_AWAY: { code: 1001, reason: "server shutting down" },
  SESSION_EXPIRED: { code: 4001, reason: "session expired" },
  IDLE: { code: 4002, reason: "idle timeout" },
  ACCESS_REVOKED: { code: 4003, reason: "access revoked" },
  VM_DELETED: { code: 4004, reason: "VM deleted" },
  VM_STOPPED: { code: 4005, reason: "VM is stopped" },
  CONSOLE_LOST: { code: 4006, reason: "console connection lost" },
  PROTOCOL: { code: 4007, reason: "protocol violation" },
  TOO_SLOW: { code: 4008, reason: "client too slow" },
  INPUT_FLOOD: { code: 4009, reason: "client sent too much" },
} as const;
type CloseSpec = { readonly code: number; readonly reason: string };

export const CONSOLE_PATH_KIND: Record<string, ConsoleKind> = { "/ws/console": "vnc", "/ws/serial": "serial" };

export interface ConsoleLimits {
  idleTimeoutS: number;
  maxSessionS: number;
  maxPerUser: number;
  maxPerVm: number;
  pingS: number;
  /** Sessions this process serves at once, all users and VMs together (default DEFAULT_MAX_TOTAL). */
  maxTotal?: number;
}

export interface ConsoleProxyOptions {
  /** The proxy's only database access (the portal passes a PgConsoleStore, so no Prisma client here). */
  store: ConsoleStore;
  hosts: HostPool;
  /** The portal's own origin (scheme://host[:port]); a browser Origin must equal it. */
  portalOrigin: string;
  clock: Clock;
  limits: ConsoleLimits;
  /** Batched re-check period (default 1000 ms). */
  recheckMs?: number;
  /** Subscribe to VM change notifications for immediate re-checks (default true). */
  listen?: boolean;
}

/** Client → server chunks larger than this make us stop reading the other side until it drains. */
const HIGH_WATER = 1 << 20;
/** Longest websocket frame or message accepted: a whole maximal ClientCutText fits, nothing much larger. */
export const WS_MAX_PAYLOAD = CUT_TEXT_MAX + 64 * 1024;
export const DEFAULT_MAX_TOTAL = 256;
/** Serial output queued for one client before it is closed as too slow (the shared connection never waits). */
const SLOW_CLIENT_MAX = 1 << 20;
const TICKET_HASH = /^[0-9a-f]{64}$/;
/** Display bytes kept before a session runs (VNC's greeting is 12); past this the display is paused. */
const EARLY_MAX = 64 * 1024;
/** Prepared displays held at once, in all and per VM (each is one idle connection to a QEMU display). */
const PREPARED_MAX = 64;
const PREPARED_PER_VM = 4;
/** Hashes of tickets redeemed lately, so an announcement that arrives after its redemption prepares nothing. */
const REDEEMED_MEMORY = 256;
const CONNECT_TIMEOUT_MS = 5_000;
const NOTHING = Buffer.alloc(0);
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Where a display connection's bytes go: the session's handler once it runs; before that they are
 * kept (bounded) and sent right after the 101. A prepared display's sink forwards to the session
 * that adopted it.
 */
interface UpstreamSink {
  onUpstream: ((chunk: Buffer, release: () => void) => void) | null;
  early: Buffer[];
  earlyBytes: number;
  adoptedBy: UpstreamSink | null;
}

interface PreparedDisplay {
  tokenHash: string;
  vmId: string;
  hostId: string;
  hostUri: string;
  domainName: string;
  sink: UpstreamSink;
  /** The open, greeted-or-greeting display connection; null if it could not be opened. */
  upstream: Promise<net.Socket | null>;
  expiry: NodeJS.Timeout;
}

/** The one connection to a VM's serial console, shared by its serial sessions (see the module comment). */
interface SerialHub {
  vmId: string;
  hostId: string;
  hostUri: string;
  domainName: string;
  sessions: Set<Session>;
  upstream: Promise<net.Socket>;
}

interface Session extends UpstreamSink {
  id: number;
  userId: string;
  username: string;
  vmId: string;
  hostId: string;
  hostUri: string;
  domainName: string;
  mode: ConsoleMode;
  kind: ConsoleKind;
  ip: string | null;
  startedAt: Date;
  lastActivity: number;
  alive: boolean;
  bytesToClient: number;
  bytesFromClient: number;
  /** Every byte read from the client's socket (frame headers, refused frames and pings included). */
  bytesReceived: number;
  /** The user's sessionVersion its ticket was minted under: a bump (reset, disable, role change) ends it. */
  sessionVersion: number;
  /** Why the client's socket is not being read: its input budget is spent, or the display is not keeping up. */
  inputHolds: Set<"budget" | "display">;
  throttledMs: number;
  ws: WebSocket | null;
  upstream: net.Socket | null;
  filter: RfbClientFilter | null;
  hub: SerialHub | null;
  ending: CloseSpec | null;
}

const STATUS_TEXT: Record<number, string> = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 412: "Precondition Failed", 503: "Service Unavailable" };

export class ConsoleProxy {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Console frames are binary RFB/serial bytes; a text frame is forwarded as bytes, never decoded.
    skipUTF8Validation: true,
    clientTracking: false,
    maxPayload: WS_MAX_PAYLOAD,
    handleProtocols: (offered) => (offered.has(DATA_PROTOCOL) ? DATA_PROTOCOL : false),
  });
  private readonly sessions = new Set<Session>();
  private readonly prepared = new Map<string, PreparedDisplay>();
  /** Announced ticket hashes whose rows are being read (bounded like `prepared`). */
  private readonly preparing = new Set<string>();
  private readonly serialHubs = new Map<string, SerialHub>();
  private readonly redeemed = new Set<string>();
  /** Prepared displays opened for announced tickets, and how many connects used one. */
  readonly preparedStats = { opened: 0, adopted: 0 };
  private nextId = 1;
  private draining = false;
  private timer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;
  private unlistenTickets: (() => void) | null = null;
  private recheckQueued = false;
  private rechecking = false;
  private lastPurge = 0;

  constructor(private readonly opts: ConsoleProxyOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.recheckMs ?? 1000);
    this.pingTimer = setInterval(() => this.ping(), this.opts.limits.pingS * 1000);
    if (this.opts.listen !== false) {
      this.unlisten = onVmChange(() => this.queueRecheck());
      this.unlistenTickets = onConsoleTicketMinted((t) => this.prepare(t));
    }
  }

  get sessionCount(): number {
    return [...this.sessions].filter((s) => s.ws !== null).length;
  }

  /** Takes /ws/console and /ws/serial upgrades; returns false for any other path (not ours). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const kind = CONSOLE_PATH_KIND[pathname];
    if (!kind) return false;
    socket.on("error", () => undefined);
    void this.accept(req, socket, head, kind);
    return true;
  }

  private async accept(req: IncomingMessage, socket: Duplex, head: Buffer, kind: ConsoleKind): Promise<void> {
    const ip = req.socket.remoteAddress ?? null;
    let who: { actorId: string | null; actorName: string | null } = { actorId: null, actorName: null };
    let session: Session | null = null;
    let prepared: PreparedDisplay | null = null;
    try {
      if (this.draining) throw new Refusal(503, "the portal is shutting down");
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== this.opts.portalOrigin) throw new Refusal(403, "origin not allowed");
      const offered = ticketFromProtocols(req.headers["sec-websocket-protocol"]);
      if (offered === "absent") throw new Refusal(401, "no console ticket");
      if (offered === "malformed") throw new Refusal(401, "malformed console ticket");
      const tokenHash = hashTicket(offered.ticket);
      const ticket = await this.opts.store.redeemTicket(tokenHash, this.opts.clock.now());
      if (ticket) this.rememberRedeemed(tokenHash);
      // Taken whatever the outcome: a prepared display is used by this connect or by none.
      prepared = this.takePrepared(tokenHash);
      if (!ticket) throw new Refusal(401, "console ticket invalid, expired or already used");
      if (ticket.kind !== kind) throw new Refusal(403, `this ticket is for the ${ticket.kind} console`);
      const { user, vm: found } = ticket;
      who = { actorId: ticket.userId, actorName: user?.username ?? null };
      if (!user || user.disabled) throw new Refusal(403, "user disabled");
      if (user.sessionVersion !== ticket.ticketSessionVersion) throw new Refusal(401, "the session that asked for this ticket has ended");
      if (!found || found.deleted) throw new Refusal(404, "VM not found");
      const vm = found;
      const actor = { id: user.id, role: user.role as Role, disabled: user.disabled };
      const { action, target } = consoleTarget(vm);
      if (!can(actor, action, target)) throw new Refusal(canSee(actor, target) ? 403 : 404, canSee(actor, target) ? "console not allowed" : "VM not found");
      if (vm.viewer && ticket.mode !== "view") throw new Refusal(403, "a submission is view-only");
      if (vm.state === "deleting") throw new Refusal(404, "VM not found");
      if (vm.state !== "running") throw new Refusal(412, `VM is ${vm.state}`);

      session = {
        id: this.nextId++,
        userId: user.id,
        username: user.username,
        vmId: vm.id,
        hostId: vm.host.id,
        hostUri: vm.host.uri,
        domainName: vm.domainName,
        mode: ticket.mode,
        kind,
        ip,
        startedAt: this.opts.clock.now(),
        lastActivity: Date.now(),
        alive: true,
        bytesToClient: 0,
        bytesFromClient: 0,
        bytesReceived: 0,
        sessionVersion: ticket.ticketSessionVersion,
        inputHolds: new Set(),
        throttledMs: 0,
        ws: null,
        upstream: null,
        filter: kind === "vnc" ? new RfbClientFilter(ticket.mode) : null,
        hub: null,
        onUpstream: null,
        early: [],
        earlyBytes: 0,
        adoptedBy: null,
        ending: null,
      };
      this.reserve(session);
      if (kind === "serial") session.upstream = await this.joinSerial(session);
      else session.upstream = (prepared && (await this.adopt(prepared, session))) || (await this.connectTarget(session));
      prepared = null;
      if (socket.destroyed) throw new Refusal(409, "client went away");
    } catch (err) {
      if (prepared) void discard(prepared);
      if (session) this.release(session);
      const refusal = err instanceof Refusal ? err : new Refusal(503, "console unavailable");
      if (!(err instanceof Refusal)) log.warn({ err, kind }, "console connect failed");
      this.refuse(socket, refusal);
      const row = { ...who, ip, action: "console.connect", targetType: "vm", result: "denied" as const, detail: { kind, status: refusal.status, reason: refusal.message } };
      // Without a redeemed ticket nothing bounds how many refusals one client causes: counted, not appended.
      if (who.actorId === null) await this.auditRefusal({ ...row, reason: refusal.message });
      else await this.audit(row);
      return;
    }
    const s = session;
    // The 101 and the display bytes already here (VNC's greeting) leave in one write, uncorked at the
    // end of run(): the client gets both with one wake-up.
    if (socket instanceof net.Socket) socket.cork();
    // ws answers synchronously: either the callback ran, or it refused the handshake (bad version,
    // duplicate subprotocol, …) and wrote its own 4xx. Then the slot and the display are released here;
    // the ticket stays consumed.
    let upgraded = false;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      this.run(s, ws, socket);
    });
    if (!upgraded) {
      this.release(s);
      if (socket instanceof net.Socket) socket.uncork();
      await this.audit({ ...who, ip, action: "console.connect", targetType: "vm", targetId: s.vmId, result: "denied", detail: { kind, status: 400, reason: "websocket handshake refused" } });
    }
  }

  /** Gives back what a session took: its slot, and its display connection (or its place on the serial hub). */
  private release(s: Session): void {
    this.sessions.delete(s);
    this.releaseUpstream(s);
  }

  private releaseUpstream(s: Session): void {
    if (s.kind !== "serial") s.upstream?.destroy();
    else if (s.hub) this.leaveSerial(s);
  }

  /** The VM's shared serial connection (opened by the first session), with `s` added to its hub. */
  private async joinSerial(s: Session): Promise<net.Socket> {
    let hub = this.serialHubs.get(s.vmId);
    if (!hub || hub.hostId !== s.hostId || hub.hostUri !== s.hostUri || hub.domainName !== s.domainName) {
      const sessions = new Set<Session>();
      const sink: UpstreamSink = { onUpstream: (chunk, release) => fanOut(sessions, chunk, release), early: [], earlyBytes: 0, adoptedBy: null };
      const created: SerialHub = { vmId: s.vmId, hostId: s.hostId, hostUri: s.hostUri, domainName: s.domainName, sessions, upstream: this.connectTarget(s, sink) };
      hub = created;
      this.serialHubs.set(s.vmId, created);
      created.upstream.then(
        (sock) =>
          // One listener for the hub (sessions come and go; none adds its own to the shared socket).
          sock.once("close", () => {
            this.dropHub(created);
            for (const member of [...created.sessions]) void this.upstreamClosed(member);
          }),
        () => this.dropHub(created),
      );
    }
    hub.sessions.add(s);
    s.hub = hub;
    const upstream = await hub.upstream;
    if (upstream.destroyed) throw new Refusal(503, "the VM's console did not accept a connection");
    return upstream;
  }

  private leaveSerial(s: Session): void {
    const hub = s.hub!;
    s.hub = null;
    hub.sessions.delete(s);
    if (hub.sessions.size > 0) return;
    this.dropHub(hub);
    hub.upstream.then((sock) => sock.destroy(), noop);
  }

  private dropHub(hub: SerialHub): void {
    if (this.serialHubs.get(hub.vmId) === hub) this.serialHubs.delete(hub.vmId);
  }

  /**
   * A ticket was announced: reads where its VM runs from the ticket's rows (the announcement itself is
   * never trusted: anyone who can NOTIFY could write any host into it) and opens that display.
   */
  private prepare(announced: unknown): void {
    const tokenHash = (announced as { tokenHash?: unknown } | null)?.tokenHash;
    if (typeof tokenHash !== "string" || !TICKET_HASH.test(tokenHash)) return;
    if (this.draining || this.prepared.has(tokenHash) || this.preparing.has(tokenHash) || this.redeemed.has(tokenHash)) return;
    if (this.prepared.size + this.preparing.size >= PREPARED_MAX) return;
    this.preparing.add(tokenHash);
    this.opts.store.ticketTarget(tokenHash, this.opts.clock.now()).then(
      (t) => {
        this.preparing.delete(tokenHash);
        if (t) this.prepareTarget(tokenHash, t);
      },
      (err: unknown) => {
        this.preparing.delete(tokenHash);
        log.warn({ err }, "console: announced ticket unreadable");
      },
    );
  }

  private prepareTarget(tokenHash: string, t: TicketTarget): void {
    const ttlMs = t.expiresAt.getTime() - this.opts.clock.now().getTime();
    if (this.draining || t.kind !== "vnc" || t.vmState !== "running" || ttlMs <= 0 || !isLocalHostUri(t.hostUri)) return;
    if (this.prepared.has(tokenHash) || this.redeemed.has(tokenHash) || this.prepared.size >= PREPARED_MAX) return;
    if ([...this.prepared.values()].filter((p) => p.vmId === t.vmId).length >= PREPARED_PER_VM) return;
    const sink: UpstreamSink = { onUpstream: null, early: [], earlyBytes: 0, adoptedBy: null };
    const where = { vmId: t.vmId, hostId: t.hostId, hostUri: t.hostUri, domainName: t.domainName, kind: "vnc" as const };
    const entry: PreparedDisplay = {
      tokenHash,
      ...where,
      sink,
      upstream: this.connectTarget(where, sink).catch(() => null),
      // Unredeemed by its ticket's expiry: nobody will take it.
      expiry: setTimeout(() => {
        if (this.prepared.get(tokenHash) === entry) this.prepared.delete(tokenHash);
        void discard(entry);
      }, ttlMs + 1000).unref(),
    };
    this.prepared.set(tokenHash, entry);
    this.preparedStats.opened++;
  }

  /** Whether a display is held open for the ticket with this hash (for tests and diagnostics). */
  hasPreparedDisplay(tokenHash: string): boolean {
    return this.prepared.has(tokenHash);
  }

  private takePrepared(tokenHash: string): PreparedDisplay | null {
    const entry = this.prepared.get(tokenHash);
    if (!entry) return null;
    this.prepared.delete(tokenHash);
    clearTimeout(entry.expiry);
    return entry;
  }

  private rememberRedeemed(tokenHash: string): void {
    this.redeemed.add(tokenHash);
    if (this.redeemed.size > REDEEMED_MEMORY) this.redeemed.delete(this.redeemed.values().next().value!);
  }

  /**
   * The prepared display's connection for this session, if it was prepared for exactly this VM where
   * the redemption says it runs and is still open; otherwise it is closed and null returned.
   */
  private async adopt(p: PreparedDisplay, s: Session): Promise<net.Socket | null> {
    if (s.kind !== "vnc" || p.vmId !== s.vmId || p.hostId !== s.hostId || p.hostUri !== s.hostUri || p.domainName !== s.domainName) {
      void discard(p);
      return null;
    }
    const upstream = await p.upstream;
    if (!upstream || upstream.destroyed) {
      upstream?.destroy();
      return null;
    }
    p.sink.adoptedBy = s;
    this.preparedStats.adopted++;
    s.early.push(...p.sink.early);
    s.earlyBytes += p.sink.earlyBytes;
    p.sink.early = [];
    p.sink.earlyBytes = 0;
    return upstream;
  }

  /** Counts the session against the per-user and per-VM caps (pending sessions included). */
  private reserve(s: Session): void {
    if (this.sessions.size >= (this.opts.limits.maxTotal ?? DEFAULT_MAX_TOTAL)) throw new Refusal(503, "too many console sessions on this portal");
    const all = [...this.sessions];
    if (all.filter((o) => o.userId === s.userId).length >= this.opts.limits.maxPerUser) throw new Refusal(409, "too many console sessions for this user");
    if (all.filter((o) => o.vmId === s.vmId).length >= this.opts.limits.maxPerVm) throw new Refusal(409, "too many console sessions on this VM");
    // One controller per serial console (watchers share its connection, see SerialHub).
    if (s.kind === "serial" && s.mode === "control" && all.some((o) => o.vmId === s.vmId && o.kind === "serial" && o.mode === "control")) {
      throw new Refusal(409, "the serial console of this VM already has a controller (view-only watching is possible)");
    }
    this.sessions.add(s);
  }

  /** Resolves the target from the live domain XML on the VM's host, then opens it. */
  private async connectTarget(s: Pick<Session, "vmId" | "hostId" | "hostUri" | "domainName" | "kind">, sink: UpstreamSink = s as Session): Promise<net.Socket> {
    const remote = !isLocalHostUri(s.hostUri);
    let xml: string;
    try {
      xml = await this.opts.hosts.get({ id: s.hostId, uri: s.hostUri }).domainXml(s.domainName);
    } catch (err) {
      log.warn({ err, vmId: s.vmId }, "console: live domain XML unavailable");
      throw new Refusal(409, "the VM's console is not available");
    }
    const parsed = parseDomainXml(xml);
    let target: net.NetConnectOpts;
    if (s.kind === "vnc" && remote) {
      target = { path: await this.remoteDisplay(s, parsed.vnc?.port ?? null) };
    } else if (remote) {
      target = { path: await this.remoteSerial(s) };
    } else if (s.kind === "vnc") {
      const vnc = parsed.vnc;
      if (vnc?.socketPath) {
        target = { path: vnc.socketPath };
      } else {
        // Domains defined before VNC moved to a unix socket, or by hand: loopback TCP only.
        if (!vnc?.port) throw new Refusal(409, "the VM has no VNC display");
        if (!vnc.listen || !LOOPBACK.has(vnc.listen)) throw new Refusal(409, "the VM's VNC display is not on loopback; refusing to proxy it");
        target = { host: vnc.listen === "localhost" ? "127.0.0.1" : vnc.listen, port: vnc.port };
      }
    } else {
      if (!parsed.serialSocketPath) throw new Refusal(409, "the VM's serial console has no socket (restart it from a current definition)");
      target = { path: parsed.serialSocketPath };
    }
    return connectWithTimeout(target, (chunk, release) => {
      const to = sink.adoptedBy ?? sink;
      if (to.onUpstream) {
        to.onUpstream(chunk, release);
        return true;
      }
      to.early.push(Buffer.from(chunk));
      to.earlyBytes += chunk.length;
      release();
      // Stop reading until the session runs (run() resumes it).
      return to.earlyBytes < EARLY_MAX;
    }).catch((err: unknown) => {
      log.warn({ err, vmId: s.vmId, kind: s.kind }, "console: target refused");
      throw new Refusal(503, "the VM's console did not accept a connection");
    });
  }

  /**
   * A remote host's display, opened over VeNCrypt with the portal's TLS certificate (see vnc-tls.ts):
   * the path of the private socket that presents it as a plain RFB server.
   */
  private async remoteDisplay(s: Pick<Session, "vmId" | "hostUri">, port: number | null): Promise<string> {
    if (!port) throw new Refusal(409, "the VM has no VNC display");
    const creds = portalTlsCredentials(s.hostUri, config().hostCredentialsDir);
    if (!creds) throw new Refusal(503, "this host's displays are reached only over qemu+tls with the portal's client certificate");
    const host = new URL(s.hostUri).hostname.replace(/^\[(.*)\]$/, "$1");
    try {
      const display = await openVncOverTls({ host, port }, creds, CONNECT_TIMEOUT_MS);
      return await frontForDisplay(display, CONNECT_TIMEOUT_MS);
    } catch (err) {
      log.warn({ err, vmId: s.vmId }, "console: remote display refused");
      throw new Refusal(503, "the VM's console did not accept a connection");
    }
  }

  /**
   * A remote VM's serial console through libvirt's console stream, taken over from whoever holds it
   * on the host (the readiness watcher, or a stale holder): all of this portal's serial sessions of
   * the VM share it through their hub, as they share a local socket.
   */
  private async remoteSerial(s: Pick<Session, "vmId" | "hostId" | "hostUri" | "domainName">): Promise<string> {
    try {
      const stream = await this.opts.hosts.get({ id: s.hostId, uri: s.hostUri }).openConsole(s.domainName, { force: true });
      return await frontForConsole(stream, CONNECT_TIMEOUT_MS);
    } catch (err) {
      log.warn({ err, vmId: s.vmId }, "console: remote serial console refused");
      throw new Refusal(503, "the VM's serial console did not accept a connection");
    }
  }

  private refuse(socket: Duplex, refusal: Refusal): void {
    if (socket.destroyed) return;
    const body = `${refusal.message}\n`;
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? "Error"}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private run(s: Session, ws: WebSocket, raw: Duplex): void {
    const upstream = s.upstream!;
    s.ws = ws;
    s.lastActivity = Date.now();
    if (raw instanceof net.Socket) raw.setNoDelay(true);
    upstream.setNoDelay(true);
    const slog = log.child({ consoleSession: s.id, userId: s.userId, vmId: s.vmId, kind: s.kind, mode: s.mode });
    // Logged after this turn, so the first display bytes do not wait for a log line.
    setImmediate(() => slog.info("console session started"));

    s.onUpstream = s.kind === "serial"
      ? (chunk, release) => {
          // The shared serial connection never waits for one client: a client that far behind is closed.
          s.bytesToClient += chunk.length;
          s.lastActivity = Date.now();
          ws.send(chunk, { binary: true, compress: false }, release);
          if (raw.writableLength > SLOW_CLIENT_MAX) this.end(s, CLOSE.TOO_SLOW);
        }
      : (chunk, release) => {
          s.bytesToClient += chunk.length;
          s.lastActivity = Date.now();
          // No per-message deflate (never negotiated) and no copy: ws frames the chunk as it is. `release`
          // runs once the socket has written the frame (or failed it), never earlier: only then may a
          // pooled slab (see READ_BUFFER) be reused.
          ws.send(chunk, { binary: true, compress: false }, release);
          if (raw.writableLength > HIGH_WATER) {
            upstream.pause();
            raw.once("drain", () => upstream.resume());
          }
        };
    if (s.kind !== "serial") {
      upstream.on("error", () => undefined);
      upstream.on("close", () => void this.upstreamClosed(s));
    }
    // It reads from the start, so it may have closed before this session ran (its "close" went unheard).
    if (upstream.destroyed) void this.upstreamClosed(s);

    // Input is read only while the client is within its budget (see input-budget.ts) and the display
    // keeps up; either can hold it, and reading resumes when neither does.
    const hold = (why: "budget" | "display") => {
      if (s.inputHolds.size === 0) ws.pause();
      s.inputHolds.add(why);
    };
    const unhold = (why: "budget" | "display") => {
      if (!s.inputHolds.delete(why) || s.inputHolds.size > 0) return;
      s.alive = true; // its pong may still be queued behind the input just released
      ws.resume();
    };
    const budget = new InputBudget(INPUT_BUDGET[s.kind][s.mode]);
    raw.on("data", (chunk: Buffer) => {
      s.bytesReceived += chunk.length;
      const waitMs = budget.spend(chunk.length);
      if (waitMs === 0 || s.inputHolds.has("budget")) return;
      // Held for good when closed: ws would otherwise read on (discarding) until its close handshake ends.
      hold("budget");
      if (budget.floodingMs() > FLOOD_CLOSE_MS) return this.end(s, CLOSE.INPUT_FLOOD);
      s.throttledMs += waitMs;
      setTimeout(() => unhold("budget"), waitMs).unref();
    });

    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      s.bytesFromClient += buf.length;
      s.lastActivity = Date.now();
      let out: Buffer;
      if (s.filter) {
        try {
          out = s.filter.push(buf);
        } catch (err) {
          if (!(err instanceof RfbProtocolError)) throw err;
          slog.warn({ err: err.message }, "console: client protocol violation");
          return this.end(s, CLOSE.PROTOCOL);
        }
      } else {
        out = s.mode === "view" ? NOTHING : buf;
      }
      if (out.length > 0 && !upstream.write(out) && !s.inputHolds.has("display")) {
        hold("display");
        upstream.once("drain", () => unhold("display"));
      }
    });
    ws.on("pong", () => {
      s.alive = true;
    });
    // A frame over the size cap or broken framing: ws has sent its close (1009/1002) and would read on,
    // discarding, until the client answers; it gets a second, not ws's 30 s.
    ws.on("error", () => setTimeout(() => ws.terminate(), 1000).unref());
    ws.once("close", (code, reason) => {
      s.ending ??= { code, reason: reason.toString() || "client closed" };
      this.release(s);
      const endedAt = this.opts.clock.now();
      const detail = {
        mode: s.mode,
        kind: s.kind,
        startedAt: s.startedAt.toISOString(),
        endedAt: endedAt.toISOString(),
        durationS: Math.round((endedAt.getTime() - s.startedAt.getTime()) / 100) / 10,
        bytesToClient: s.bytesToClient,
        bytesFromClient: s.bytesFromClient,
        bytesReceived: s.bytesReceived,
        inputThrottledMs: s.throttledMs,
        inputDropped: s.filter?.stats.dropped ?? 0,
        closeCode: s.ending.code,
        closeReason: s.ending.reason,
      };
      slog.info(detail, "console session ended");
      void this.audit({ actorId: s.userId, actorName: s.username, ip: s.ip, action: "console.session", targetType: "vm", targetId: s.vmId, result: "ok", detail });
    });
    const early = s.early;
    s.early = [];
    s.earlyBytes = 0;
    for (const chunk of early) s.onUpstream(chunk, noop);
    upstream.resume();
    if (raw instanceof net.Socket) raw.uncork();
    const pending = s.ending ?? (this.draining ? CLOSE.GOING_AWAY : null);
    if (pending) {
      s.ending = null;
      this.end(s, pending);
    }
  }

  /** Closes a session with a code the client can explain; terminates it if the peer does not answer. */
  end(s: Session, spec: CloseSpec): void {
    if (s.ending) return;
    s.ending = spec;
    this.releaseUpstream(s);
    const ws = s.ws;
    if (!ws) return;
    ws.close(spec.code, spec.reason);
    setTimeout(() => ws.terminate(), 2000).unref();
  }

  /**
   * The display/serial connection closed: say why if the VM is the reason. The display closes the moment
   * QEMU dies, while libvirt is still tearing the domain down (network, filters) and holds the domain's
   * lock, so asking libvirt can take seconds under load; the database learns of the stop from the
   * operation or the lifecycle event meanwhile. Whichever answers first decides; only when neither does
   * within UPSTREAM_VERDICT_MS is the loss reported as a lost console.
   */
  private async upstreamClosed(s: Session): Promise<void> {
    if (s.ending) return;
    const host = this.opts.hosts.get({ id: s.hostId, uri: s.hostUri });
    const fromLibvirt = withTimeout(host.domainState(s.domainName), UPSTREAM_VERDICT_MS).then(
      (live): CloseSpec => (live === null ? CLOSE.VM_DELETED : live !== "running" ? CLOSE.VM_STOPPED : CLOSE.CONSOLE_LOST),
      () => CLOSE.CONSOLE_LOST,
    );
    let libvirtSays: CloseSpec | null = null;
    void fromLibvirt.then((spec) => (libvirtSays = spec));
    let verdict: CloseSpec | null = null;
    // libvirt alone is not trusted with "gone" or "stopped": a VM migrating away is both on the host
    // it leaves. The database is asked at least once before libvirt's answer is taken.
    let askedDb = false;
    const deadline = Date.now() + UPSTREAM_VERDICT_MS;
    while (!verdict && !s.ending && Date.now() < deadline) {
      try {
        const [row] = await this.opts.store.recheck([{ userId: s.userId, vmId: s.vmId }]);
        const vm = row?.vm;
        if (!vm || vm.deleted || vm.state === "deleting" || vm.state === "deleted") verdict = CLOSE.VM_DELETED;
        // Moving or moved to another host: gone from this one, running there. The client reconnects
        // with a fresh ticket, which names the new host once the migration has landed.
        else if (vm.migrating || vm.host.id !== s.hostId) verdict = CLOSE.CONSOLE_LOST;
        else if (vm.state !== "running") verdict = CLOSE.VM_STOPPED;
        askedDb = true;
      } catch {
        /* the database will answer on the next round, or libvirt will */
      }
      if (!verdict && askedDb && libvirtSays) verdict = libvirtSays;
      if (!verdict) await Promise.race([fromLibvirt, new Promise((r) => setTimeout(r, 200).unref())]);
    }
    if (s.ending) return;
    this.end(s, verdict ?? libvirtSays ?? CLOSE.CONSOLE_LOST);
  }

  private queueRecheck(): void {
    if (this.recheckQueued) return;
    this.recheckQueued = true;
    setTimeout(() => {
      this.recheckQueued = false;
      void this.recheck();
    }, 20).unref();
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    const { idleTimeoutS, maxSessionS } = this.opts.limits;
    const clockNow = this.opts.clock.now().getTime();
    for (const s of this.sessions) {
      if (!s.ws || s.ending) continue;
      if (clockNow - s.startedAt.getTime() >= maxSessionS * 1000) this.end(s, CLOSE.SESSION_EXPIRED);
      else if (now - s.lastActivity >= idleTimeoutS * 1000) this.end(s, CLOSE.IDLE);
    }
    await this.recheck();
    if (now - this.lastPurge > 60_000) {
      this.lastPurge = now;
      await this.opts.store.purgeExpiredTickets(this.opts.clock.now()).catch((err) => log.warn({ err }, "console ticket purge failed"));
    }
  }

  /** One query for the users and VMs of all live sessions; closes what is no longer allowed. */
  private async recheck(): Promise<void> {
    const live = [...this.sessions].filter((s) => s.ws && !s.ending);
    if (live.length === 0 || this.rechecking) return;
    this.rechecking = true;
    try {
      const pairs = new Map(live.map((s) => [`${s.userId}/${s.vmId}`, { userId: s.userId, vmId: s.vmId }]));
      const rows = await this.opts.store.recheck([...pairs.values()]);
      const byPair = new Map(rows.map((r) => [`${r.userId}/${r.vmId}`, r]));
      for (const s of live) {
        const row = byPair.get(`${s.userId}/${s.vmId}`);
        const user = row?.user;
        const vm = row?.vm;
        if (!user || user.disabled || user.sessionVersion !== s.sessionVersion) this.end(s, CLOSE.ACCESS_REVOKED);
        else if (!vm || vm.deleted || vm.state === "deleting" || vm.state === "deleted") this.end(s, CLOSE.VM_DELETED);
        else if (!can({ id: user.id, role: user.role as Role, disabled: user.disabled }, consoleTarget(vm).action, consoleTarget(vm).target)) this.end(s, CLOSE.ACCESS_REVOKED);
        else if (vm.state !== "running" && vm.state !== "paused") this.end(s, CLOSE.VM_STOPPED);
      }
    } catch (err) {
      log.warn({ err }, "console re-check failed");
    } finally {
      this.rechecking = false;
    }
  }

  /** Audit rows are written after the fact and never fail or delay what they describe. */
  private async audit(row: ConsoleAuditRow): Promise<void> {
    try {
      await this.opts.store.audit(row);
    } catch (err) {
      log.error({ err, action: row.action }, "audit write failed");
    }
  }

  private async auditRefusal(row: ConsoleAuditRow & { reason: string }): Promise<void> {
    try {
      await this.opts.store.auditRefusal(row, this.opts.clock.now());
    } catch (err) {
      log.error({ err, action: row.action }, "audit write failed");
    }
  }

  private ping(): void {
    for (const s of this.sessions) {
      const ws = s.ws;
      // A held client's pong sits unread behind the input we are not reading: not a sign of death.
      if (!ws || s.ending || s.inputHolds.size > 0) continue;
      if (!s.alive) {
        ws.terminate();
        continue;
      }
      s.alive = false;
      ws.ping();
    }
  }

  /** Graceful shutdown: refuse new sessions, close live ones with 1001, wait (bounded) until they are gone. */
  async drain(timeoutMs = 3000): Promise<void> {
    this.draining = true;
    for (const p of this.prepared.values()) {
      clearTimeout(p.expiry);
      void discard(p);
    }
    this.prepared.clear();
    for (const s of this.sessions) this.end(s, CLOSE.GOING_AWAY);
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.sessions) s.ws?.terminate();
    this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = this.pingTimer = null;
    this.unlisten?.();
    this.unlistenTickets?.();
    this.unlisten = this.unlistenTickets = null;
  }
}

/**
 * Sends a serial chunk to every session of a hub; those not yet running keep it (bounded) for their
 * start. `release` (the read buffer's) runs once every send has finished with the chunk.
 */
function fanOut(sessions: Set<Session>, chunk: Buffer, release: () => void): void {
  let pending = 1;
  const done = () => {
    if (--pending === 0) release();
  };
  for (const s of sessions) {
    if (s.onUpstream) {
      pending++;
      s.onUpstream(chunk, done);
    } else if (s.earlyBytes < EARLY_MAX) {
      s.early.push(Buffer.from(chunk));
      s.earlyBytes += chunk.length;
    }
  }
  done();
}

/** Closes a prepared display's connection (once it has one). */
async function discard(p: PreparedDisplay): Promise<void> {
  (await p.upstream)?.destroy();
}


/**
 * Upstream reads are up to 1 MiB instead of libuv's 64 KiB: a streaming display takes far fewer
 * reads, callbacks and websocket frames per byte. A session that is not streaming (echoes, a slow
 * display, an idle one) reads into one shared buffer and its bytes are copied out at their exact
 * size, so it holds no read buffer of its own. Sharing is safe: the callback copies before returning
 * and the next read cannot start before it has (one JS thread).
 *
 * A streaming session (its last read was ≥ SLAB_MIN_SEND) reads straight into recycled 1 MiB slabs
 * and each read is sent as a view of its slab: no copy. Before, every large read was copied into a
 * fresh Buffer; a fresh 1 MiB Buffer is a new malloc above glibc's mmap/trim thresholds, so nearly
 * every page of every copy was a new page fault: measured ≈ 70–100 k minor faults per 512 MB
 * streamed (websockify: ≈ 200), which doubled the proxy's CPU per byte once the machine was busy;
 * now ≈ 500–2 000. A slab goes back to the free list only from ws.send's callback, i.e. once the
 * socket no longer references it; a slab whose callback never comes is simply garbage-collected.
 * At most SLABS_FREE free slabs are kept (bounded RSS).
 */
const READ_BUFFER = Buffer.allocUnsafe(1024 * 1024);
const SLAB = READ_BUFFER.length;
const SLAB_MIN_SEND = 64 * 1024;
const SLABS_FREE = 4;
const slabs: Buffer[] = [];
const noop = (): void => undefined;
const recycle = (slab: Buffer): void => {
  if (slab !== READ_BUFFER && slabs.length < SLABS_FREE) slabs.push(slab);
};

/**
 * Opens the display/serial connection. It reads from the start; `onData` returns false to pause it
 * (the caller keeps early bytes only up to a bound before the session runs).
 */
function connectWithTimeout(target: net.NetConnectOpts, onData: (chunk: Buffer, release: () => void) => boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let streaming = false;
    const sock = net.connect({
      ...target,
      onread: {
        // Node asks for the next read's buffer right after each read.
        buffer: () => (streaming ? (slabs.pop() ?? Buffer.allocUnsafeSlow(SLAB)) : READ_BUFFER),
        callback: (n, buf) => {
          // The buffer this read landed in: READ_BUFFER or a slab returned by `buffer` above.
          const into = buf as Buffer;
          streaming = n >= SLAB_MIN_SEND;
          if (!streaming) {
            const chunk = Buffer.from(into.subarray(0, n));
            recycle(into);
            return onData(chunk, noop);
          }
          let slab = into;
          if (into === READ_BUFFER) {
            // First large read of a stream: it landed in the shared buffer, so it is copied (once).
            slab = slabs.pop() ?? Buffer.allocUnsafeSlow(SLAB);
            slab.set(into.subarray(0, n));
          }
          let released = false;
          return onData(slab.subarray(0, n), () => {
            if (released) return;
            released = true;
            recycle(slab);
          });
        },
      },
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("connect timed out"));
    }, CONNECT_TIMEOUT_MS);
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    sock.once("error", onError);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.off("error", onError);
      sock.on("error", () => undefined);
      resolve(sock);
    });
  });
}

/** How long a closed display may wait to learn whether its VM stopped (see upstreamClosed). */
const UPSTREAM_VERDICT_MS = 8000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref())]);
}
