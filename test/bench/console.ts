/**
 * `npm run bench:console` — the console path side by side, in one run, on loopback, against one TCP
 * source (tcp-source.ts) that streams a verifiable pattern and echoes small messages:
 *   direct     plain TCP to the source;
 *   proxy      vmdesk's real ConsoleProxy in its own process (console-proxy-child.ts), a fresh real
 *              ticket minted in the database for every connection, the VM row running;
 *   websockify Debian's websockify (one forked process per connection), subprotocol "binary";
 *   bare_ws    (connect latency only) a no-checks reference proxy, bare-ws-proxy.ts: the floor.
 * All websocket paths use the `ws` client, binary frames, no compression. Every byte is verified.
 * Prints one JSON line; MB means 2^20 bytes.
 */
import { fork, spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import WebSocket from "ws";
import { mintTicket, ticketProtocols } from "../../server/console/tickets.ts";
import { db, disconnectDb } from "../../server/db/client.ts";
import { freshDatabase } from "../support/harness.ts";
import { BANNER, CLIENT_HANDSHAKE, ECHO_MESSAGE_BYTES, PatternCheck, command, echoMessage } from "./console-wire.ts";

const MB = 1 << 20;
const STREAM_BYTES = Number(process.env.BENCH_STREAM_MIB ?? 512) * MB;
const THROUGHPUT_ROUNDS = 3;
/**
 * Warm-ups are long enough for V8 to reach steady state in the client and the proxy. With 300
 * warm-up echoes, --trace-opt showed ~50 TurboFan compilations in the proxy (ws receiver and
 * stream write paths, 1–11 ms each on a background thread) and as many in the client during the
 * measured echoes; on 2 cores those compilations delayed whole runs of echoes by 1–5 ms at the same
 * echo indices run after run: the echo p99 "spike". A portal process compiles these paths once in
 * its life, in its first seconds of console traffic; the benchmark compares steady states.
 */
const ECHO_WARMUP = 5000;
const ECHOES = 4000;
const ECHO_ROUNDS = 20;
const CONNECT_WARMUP = 200;
const CONNECTS = 100;
const SESSIONS = 30;
const SESSION_RATE = 2_000_000 / 8;
const WINDOW_S = 10;
const here = import.meta.dirname;
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
const PAGE = Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" }));

/** One client connection, TCP or websocket: buffered reads, or a sink that takes every chunk. */
class Link {
  firstByteAt = 0;
  private chunks: Buffer[] = [];
  private length = 0;
  private wake: (() => void) | null = null;
  private sinkFn: ((b: Buffer) => void) | null = null;
  failed: Error | null = null;

  constructor(
    readonly send: (b: Buffer) => void,
    readonly close: () => void,
  ) {}

  deliver(b: Buffer): void {
    if (this.firstByteAt === 0) this.firstByteAt = performance.now();
    if (this.sinkFn) return this.sinkFn(b);
    this.chunks.push(b);
    this.length += b.length;
    this.wake?.();
  }

  fail(err: Error): void {
    this.failed ??= err;
    this.wake?.();
  }

  async read(n: number): Promise<Buffer> {
    while (this.length < n) {
      if (this.failed) throw this.failed;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** From now on every chunk goes to `fn` (after whatever is already buffered). */
  sink(fn: (b: Buffer) => void): void {
    const buffered = this.chunks;
    this.chunks = [];
    this.length = 0;
    this.sinkFn = fn;
    for (const b of buffered) fn(b);
  }
}

interface Path {
  name: "direct" | "proxy" | "websockify" | "bare_ws";
  /** Work a client does before connecting (the proxy: get a ticket from the API). */
  prepare?(): Promise<string[]>;
  /** Resolves once connected (for the proxy: after the upgrade). */
  open(prepared?: string[]): Promise<Link>;
}

function tcpPath(port: number): Path {
  return {
    name: "direct",
    open: () =>
      new Promise((resolve, reject) => {
        const sock = net.connect(port, "127.0.0.1");
        sock.setNoDelay(true);
        const link = new Link(
          (b) => sock.write(b),
          () => sock.destroy(),
        );
        sock.on("data", (b: Buffer) => link.deliver(b));
        sock.on("error", (err) => (link.fail(err), reject(err)));
        sock.on("close", () => link.fail(new Error("connection closed")));
        sock.once("connect", () => resolve(link));
      }),
  };
}

function wsLink(url: string, protocols: string[], origin?: string): Promise<Link> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...(origin ? { origin } : {}) });
    const link = new Link(
      (b) => ws.send(b, { binary: true }),
      () => ws.close(),
    );
    ws.on("message", (d: Buffer) => link.deliver(d));
    ws.on("unexpected-response", (_req, res) => reject(new Error(`${url}: HTTP ${res.statusCode}`)));
    ws.on("error", (err) => (link.fail(err), reject(err)));
    ws.on("close", () => link.fail(new Error("websocket closed")));
    ws.once("open", () => resolve(link));
  });
}

function proxyPath(port: number, who: { userId: string; vmId: string }): Path {
  const origin = `http://127.0.0.1:${port}`;
  const mint = async () => ticketProtocols((await mintTicket(db(), { ...who, mode: "control", kind: "vnc", now: new Date(), ttlS: 60 })).ticket);
  return {
    name: "proxy",
    // A client gets its ticket from the API first (POST /vms/{id}/console); connecting starts after.
    prepare: mint,
    async open(prepared?: string[]) {
      return wsLink(`ws://127.0.0.1:${port}/ws/console`, prepared ?? (await mint()), origin);
    },
  };
}

function websockifyPath(port: number): Path {
  return { name: "websockify", open: () => wsLink(`ws://127.0.0.1:${port}/`, ["binary"]) };
}

/** The no-checks reference proxy (bare-ws-proxy.ts): the floor under any Node websocket proxy here. */
function bareWsPath(port: number): Path {
  return { name: "bare_ws", open: () => wsLink(`ws://127.0.0.1:${port}/`, ["binary"]) };
}

/** Opens a connection, checks the source's greeting and sends the handshake plus `cmd`. */
async function session(p: Path, cmd: string): Promise<Link> {
  const link = await p.open();
  const banner = await link.read(BANNER.length);
  if (!banner.equals(BANNER)) throw new Error(`${p.name}: unexpected greeting`);
  link.send(Buffer.concat([CLIENT_HANDSHAKE, command(cmd)]));
  return link;
}

/** MB/s of `bytes` streamed source → client, every byte checked against the pattern. */
async function throughput(p: Path, bytes: number): Promise<number> {
  const link = await p.open();
  const banner = await link.read(BANNER.length);
  if (!banner.equals(BANNER)) throw new Error(`${p.name}: unexpected greeting`);
  const check = new PatternCheck();
  const done = new Promise<void>((resolve, reject) => {
    link.sink((b) => {
      try {
        check.push(b);
      } catch (err) {
        return reject(err as Error);
      }
      if (check.received > bytes) reject(new Error(`${p.name}: ${check.received - bytes} bytes too many`));
      else if (check.received === bytes) resolve();
    });
  });
  const t0 = performance.now();
  link.send(Buffer.concat([CLIENT_HANDSHAKE, command(`stream ${bytes} 0`)]));
  await done;
  const s = (performance.now() - t0) / 1000;
  link.close();
  return bytes / MB / s;
}

/**
 * Round trips of FramebufferUpdateRequest-sized messages, one at a time, in µs. One session per path;
 * after a warm-up the paths take turns in blocks, so a burst of load on the machine hits them alike,
 * and the order rotates each round, so no path is always the first after another's block.
 */
async function echoes(paths: Path[]): Promise<Map<string, number[]>> {
  const links = await Promise.all(paths.map((p) => session(p, "echo")));
  const out = new Map<string, number[]>(paths.map((p) => [p.name, []]));
  let seq = 0;
  const block = async (i: number, n: number, keep: boolean) => {
    for (let k = 0; k < n; k++) {
      const m = echoMessage(seq++);
      const t0 = performance.now();
      links[i]!.send(m);
      const back = await links[i]!.read(ECHO_MESSAGE_BYTES);
      const us = (performance.now() - t0) * 1000;
      if (!back.equals(m)) throw new Error(`${paths[i]!.name}: echo ${seq} corrupted`);
      if (keep) out.get(paths[i]!.name)!.push(us);
    }
  };
  for (let i = 0; i < paths.length; i++) await block(i, ECHO_WARMUP, false);
  // Marks the measured part in the proxy child's output (BENCH_PROXY_ARGS=--trace-opt, --trace-gc).
  if (process.env.BENCH_PROXY_ARGS) console.log("--- echo warm-up done");
  for (let round = 0; round < ECHO_ROUNDS; round++) for (let k = 0; k < paths.length; k++) await block((k + round) % paths.length, ECHOES / ECHO_ROUNDS, true);
  for (const link of links) link.close();
  return out;
}

/**
 * ms from opening the connection to the source's first byte; paths take turns, in an order that
 * rotates every round. The proxy's ticket is minted just before (that is an API call a client makes
 * before it connects); its redemption and every check happen inside the measured connect.
 */
async function firstBytes(paths: Path[], n: number): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>(paths.map((p) => [p.name, []]));
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < paths.length; k++) {
      const p = paths[(k + i) % paths.length]!;
      const prepared = await p.prepare?.();
      const t0 = performance.now();
      const link = await p.open(prepared);
      await link.read(1);
      out.get(p.name)!.push(link.firstByteAt - t0);
      link.close();
    }
  }
  return out;
}

interface ProcSample {
  ticks: number;
  rssBytes: number;
  minflt: number;
}

function readStat(pid: number): { ppid: number; ticks: number; rssBytes: number; minflt: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE, minflt: Number(f[7]) };
  } catch {
    return null;
  }
}

/** `root` and all its descendants, read from /proc. */
function processTree(root: number): Map<number, ProcSample> {
  const byParent = new Map<number, number[]>();
  const stats = new Map<number, ProcSample>();
  for (const d of fs.readdirSync("/proc")) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    stats.set(pid, st);
    byParent.set(st.ppid, [...(byParent.get(st.ppid) ?? []), pid]);
  }
  const out = new Map<number, ProcSample>();
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    const st = stats.get(pid);
    if (!st) continue;
    out.set(pid, st);
    todo.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

/**
 * 30 sessions streaming at 2 Mbit/s each; over a WINDOW_S window, the CPU (% of one core) and peak
 * RSS of the serving process tree. Also checks every session kept its rate and every byte.
 */
async function concurrent(p: Path, rootPid: number): Promise<{ cpuPct: number; rssMb: number; processes: number }> {
  const links = await Promise.all(Array.from({ length: SESSIONS }, () => session(p, `stream 0 ${SESSION_RATE}`)));
  let error: Error | null = null;
  const checks = links.map((link) => {
    const check = new PatternCheck();
    link.sink((b) => {
      try {
        check.push(b);
      } catch (err) {
        error ??= err as Error;
      }
    });
    return check;
  });
  await sleep(2000);
  const before = processTree(rootPid);
  const received0 = checks.map((c) => c.received);
  const t0 = performance.now();
  let rssPeak = 0;
  let processes = 0;
  while (performance.now() - t0 < WINDOW_S * 1000) {
    await sleep(500);
    const tree = processTree(rootPid);
    rssPeak = Math.max(rssPeak, [...tree.values()].reduce((a, s) => a + s.rssBytes, 0));
    processes = Math.max(processes, tree.size);
  }
  const after = processTree(rootPid);
  const s = (performance.now() - t0) / 1000;
  let ticks = 0;
  for (const [pid, st] of after) ticks += st.ticks - (before.get(pid)?.ticks ?? 0);
  const slowest = Math.min(...checks.map((c, i) => (c.received - received0[i]!) / s));
  for (const link of links) link.close();
  if (error) throw new Error(`${p.name}: ${(error as Error).message}`);
  for (const link of links) if (link.failed) throw new Error(`${p.name}: a session failed: ${link.failed.message}`);
  if (slowest < SESSION_RATE * 0.95) throw new Error(`${p.name}: a session got ${Math.round((slowest * 8) / 1000)} kbit/s, below 2 Mbit/s`);
  return { cpuPct: ((ticks / CLK_TCK) / s) * 100, rssMb: rssPeak / MB, processes };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
}
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

function forkChild(file: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  // BENCH_PROXY_PROF=1 writes a V8 CPU profile of the proxy child to /tmp/prof (for chasing the targets).
  const extra = file.includes("proxy") && process.env.BENCH_PROXY_PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : [];
  // BENCH_PROXY_ARGS (e.g. --trace-gc) adds node options to the proxy child and shows its stdout.
  const args = file.includes("proxy") && process.env.BENCH_PROXY_ARGS ? process.env.BENCH_PROXY_ARGS.split(" ") : [];
  const child = fork(path.join(here, file), [], { execArgv: ["--import", "tsx", ...extra, ...args], env: { ...process.env, ...env }, stdio: ["ignore", args.length ? "inherit" : "ignore", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", (m: { port: number }) => resolve({ child, port: m.port }));
    child.once("exit", (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on ${port}`);
}

/** Debian's websockify, the baseline; `scripts/host-setup.sh` (run by `npm run up` as root) installs it. */
const WEBSOCKIFY = "/usr/bin/websockify";

async function main(): Promise<void> {
  if (!fs.existsSync(WEBSOCKIFY)) {
    console.error(`bench:console compares with Debian's websockify, missing at ${WEBSOCKIFY}: run \`sudo apt-get install websockify\``);
    process.exit(1);
  }
  const url = freshDatabase("vmdesk_bench_console");
  process.env.DATABASE_URL = url;
  const host = await db().host.create({ data: { name: "bench", uri: "qemu:///system", poolPath: "/nonexistent" } });
  const user = await db().user.create({ data: { username: "bench-console", passwordHash: "!", role: "tenant" } });
  const vm = await db().vm.create({
    data: { name: "bench", ownerId: user.id, hostId: host.id, vcpus: 1, memoryMiB: 64, diskGiB: 1, domainName: "vmdesk-bench-console", state: "running" },
  });

  const children: ChildProcess[] = [];
  try {
    const source = await forkChild("tcp-source.ts", {});
    children.push(source.child);
    const proxy = await forkChild("console-proxy-child.ts", { DATABASE_URL: url, BENCH_SOURCE_PORT: String(source.port) });
    children.push(proxy.child);
    const wsPort = await freePort();
    const websockify = spawn(WEBSOCKIFY, [`127.0.0.1:${wsPort}`, `127.0.0.1:${source.port}`], { stdio: "ignore" });
    children.push(websockify);
    await waitListening(wsPort);

    const paths = [tcpPath(source.port), proxyPath(proxy.port, { userId: user.id, vmId: vm.id }), websockifyPath(wsPort)];
    const [direct, viaProxy, viaWebsockify] = paths as [Path, Path, Path];
    const bare = await forkChild("bare-ws-proxy.ts", { BENCH_SOURCE_PORT: String(source.port) });
    children.push(bare.child);
    const connectPaths = [...paths, bareWsPath(bare.port)];

    // BENCH_PHASE=throughput|echo|first_byte|load runs only that phase (for profiling one phase; prints its numbers only).
    const phase = process.env.BENCH_PHASE;
    if (phase === "load") {
      const out = { bench: "console", phase, proxy: await concurrent(viaProxy, proxy.child.pid!), websockify: await concurrent(viaWebsockify, websockify.pid!) };
      console.log(JSON.stringify(out));
      return;
    }
    if (phase === "first_byte") {
      await firstBytes(connectPaths, CONNECT_WARMUP);
      // CPU per connect (ms) of the proxy, all PostgreSQL processes, this client and the source.
      const cpuOf = (pid: number) => [...processTree(pid).values()].reduce((a, st) => a + st.ticks, 0) / CLK_TCK;
      const pgPids = execFileSync("pgrep", ["-x", "postgres"], { encoding: "utf8" }).trim().split("\n").map(Number);
      const pgCpu = () => pgPids.reduce((a, pid) => a + (readStat(pid)?.ticks ?? 0), 0) / CLK_TCK;
      const c0 = [cpuOf(proxy.child.pid!), pgCpu(), process.cpuUsage(), cpuOf(source.child.pid!)] as const;
      const fb = await firstBytes(connectPaths, CONNECTS);
      const cu = process.cpuUsage(c0[2]);
      const perConnect = (x: number) => r2((x * 1000) / CONNECTS / connectPaths.length);
      const out: Record<string, unknown> = { bench: "console", phase };
      out.cpu_ms_per_connect = { proxy: r2(((cpuOf(proxy.child.pid!) - c0[0]) * 1000) / CONNECTS), postgres: r2(((pgCpu() - c0[1]) * 1000) / CONNECTS), client_all_paths: perConnect((cu.user + cu.system) / 1e6), source_all_paths: perConnect(cpuOf(source.child.pid!) - c0[3]) };
      for (const p of connectPaths) {
        const xs = fb.get(p.name)!;
        out[`${p.name}_first_byte_ms`] = { p50: r2(pct(xs, 0.5)), p95: r2(pct(xs, 0.95)), max: r2(Math.max(...xs)) };
      }
      console.log(JSON.stringify(out));
      return;
    }
    if (phase === "throughput" || phase === "echo") {
      const servers: Record<string, number> = { direct: source.child.pid!, proxy: proxy.child.pid!, websockify: websockify.pid! };
      const cpu = (pid: number) => [...processTree(pid).values()].reduce((a, st) => a + st.ticks, 0) / CLK_TCK;
      const flt = (pid: number) => readStat(pid)?.minflt ?? 0;
      const out: Record<string, unknown> = { bench: "console", phase };
      if (phase === "throughput") {
        for (const p of paths) await throughput(p, 32 * MB);
        // BENCH_LOAD_FIRST=1: the 30-session phases first, as in a full run.
        if (process.env.BENCH_LOAD_FIRST) out.load = [await concurrent(viaProxy, proxy.child.pid!), await concurrent(viaWebsockify, websockify.pid!)];
        for (let round = 0; round < THROUGHPUT_ROUNDS; round++)
          for (const p of paths) {
            // CPU seconds of the source, the serving process (tree) and this client during the stream, and
            // the minor page faults of the serving process and this client.
            const c0 = [cpu(source.child.pid!), p.name === "direct" ? 0 : cpu(servers[p.name]!), process.cpuUsage()] as const;
            const f0 = [p.name === "direct" ? 0 : flt(servers[p.name]!), flt(process.pid)];
            const mbps = await throughput(p, STREAM_BYTES);
            const cu = process.cpuUsage(c0[2]);
            ((out[`${p.name}_MBps`] ??= []) as number[]).push(r1(mbps));
            ((out[`${p.name}_cpu_s`] ??= []) as string[]).push(
              `src ${r2(cpu(source.child.pid!) - c0[0])} srv ${p.name === "direct" ? 0 : r2(cpu(servers[p.name]!) - c0[1])} cli ${r2((cu.user + cu.system) / 1e6)} flt srv ${p.name === "direct" ? 0 : flt(servers[p.name]!) - f0[0]!} cli ${flt(process.pid) - f0[1]!}`,
            );
          }
      } else {
        // Warm up as a full run does before its echoes (the streams), so JIT warm-up is not measured.
        for (const p of paths) await throughput(p, 64 * MB);
        const rtt = await echoes(paths);
        if (process.env.BENCH_PROXY_ARGS) console.log("--- echo phase end");
        for (const p of paths) {
          const xs = rtt.get(p.name)!;
          out[`${p.name}_rtt_us`] = { p50: Math.round(pct(xs, 0.5)), p99: Math.round(pct(xs, 0.99)), p999: Math.round(pct(xs, 0.999)), max: Math.round(Math.max(...xs)) };
          // Where the slow echoes are (index in the kept samples, µs).
          out[`${p.name}_slow`] = xs.flatMap((x, i) => (x > 1000 ? [`${i}:${Math.round(x)}`] : [])).join(" ");
        }
      }
      console.log(JSON.stringify(out));
      return;
    }

    for (const p of paths) await throughput(p, 32 * MB);
    // The load phase first: the proxy's RSS then reflects 30 sessions, not what the 512 MB streams left behind.
    const load = await concurrent(viaProxy, proxy.child.pid!);
    const wsLoad = await concurrent(viaWebsockify, websockify.pid!);
    const mbps = new Map<string, number[]>(paths.map((p) => [p.name, []]));
    for (let round = 0; round < THROUGHPUT_ROUNDS; round++) for (const p of paths) mbps.get(p.name)!.push(await throughput(p, STREAM_BYTES));
    const rtt = await echoes(paths);
    if (process.env.BENCH_PROXY_ARGS) console.log("--- echo phase end");
    await firstBytes(connectPaths, CONNECT_WARMUP);
    const fb = await firstBytes(connectPaths, CONNECTS);
    const rssEnd = [...processTree(proxy.child.pid!).values()].reduce((a, st) => a + st.rssBytes, 0) / MB;

    const tp = (p: Path) => median(mbps.get(p.name)!);
    const fb95 = (p: Path) => pct(fb.get(p.name)!, 0.95);
    const rtt99 = (p: Path) => pct(rtt.get(p.name)!, 0.99);
    // Revised in issue 8: first byte against the no-checks bare proxy of the same run (a proxy that
    // checks anything cannot beat that floor; the old "⅓ of websockify" lay below it on this machine).
    const bareWs = connectPaths[3]!;
    const targets = {
      throughput: tp(viaProxy) >= 1.1 * tp(viaWebsockify),
      first_byte: fb95(viaProxy) <= 1.25 * fb95(bareWs),
      rtt: rtt99(viaProxy) <= 1.1 * rtt99(viaWebsockify),
      cpu30: load.cpuPct <= wsLoad.cpuPct / 2,
      rss30: load.rssMb <= wsLoad.rssMb / 5,
    };
    const result = {
      bench: "console",
      direct_MBps: r1(tp(direct)),
      proxy_MBps: r1(tp(viaProxy)),
      websockify_MBps: r1(tp(viaWebsockify)),
      throughput_vs_websockify: r2(tp(viaProxy) / tp(viaWebsockify)),
      first_byte_p95_ms: r2(fb95(viaProxy)),
      websockify_first_byte_p95_ms: r2(fb95(viaWebsockify)),
      rtt_p99_us: Math.round(rtt99(viaProxy)),
      websockify_rtt_p99_us: Math.round(rtt99(viaWebsockify)),
      cpu30_pct: r1(load.cpuPct),
      websockify_cpu30_pct: r1(wsLoad.cpuPct),
      rss30_mb: r1(load.rssMb),
      websockify_rss30_mb: r1(wsLoad.rssMb),
      first_byte_p50_ms: r2(pct(fb.get("proxy")!, 0.5)),
      websockify_first_byte_p50_ms: r2(pct(fb.get("websockify")!, 0.5)),
      direct_first_byte_p95_ms: r2(fb95(direct)),
      bare_ws_first_byte_p50_ms: r2(pct(fb.get("bare_ws")!, 0.5)),
      bare_ws_first_byte_p95_ms: r2(pct(fb.get("bare_ws")!, 0.95)),
      rtt_p50_us: Math.round(pct(rtt.get("proxy")!, 0.5)),
      websockify_rtt_p50_us: Math.round(pct(rtt.get("websockify")!, 0.5)),
      direct_rtt_p50_us: Math.round(pct(rtt.get("direct")!, 0.5)),
      direct_rtt_p99_us: Math.round(rtt99(direct)),
      websockify_processes30: wsLoad.processes,
      rss_end_mb: r1(rssEnd),
      stream_mb: STREAM_BYTES / MB,
      first_byte_vs_bare_ws: r2(fb95(viaProxy) / fb95(bareWs)),
      rtt_p99_vs_websockify: r2(rtt99(viaProxy) / rtt99(viaWebsockify)),
      targets: "throughput >= 1.1x websockify, first-byte p95 <= 1.25x bare_ws, echo p99 <= 1.1x websockify, 30-session CPU <= 1/2 and RSS <= 1/5 of websockify",
      targets_met: targets,
    };
    console.log(JSON.stringify(result));
  } finally {
    for (const c of children) c.kill();
    await disconnectDb();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
