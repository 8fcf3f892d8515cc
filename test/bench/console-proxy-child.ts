/**
 * The real ConsoleProxy alone in a process (forked by console.ts, so its CPU and RSS can be read from
 * /proc), wired to an HTTP server exactly as server/main.ts wires it, on the benchmark's database.
 *
 * The only thing not real is the host: the proxy's HostPool answers `domainXml` with a live-style
 * domain XML whose VNC display is the benchmark's TCP source on loopback. The proxy still parses that
 * XML and applies its loopback rule; Origin check, ticket consumption, user/policy/VM-state checks,
 * session caps, backpressure, re-checks and auditing all run unchanged, through the same PgConsoleStore
 * (node-postgres pool of 4) the portal gives the proxy, so this process never loads the Prisma client.
 */
import http from "node:http";
import type net from "node:net";
import { PgConsoleStore } from "../../server/console/pg-store.ts";
import { ConsoleProxy } from "../../server/console/proxy.ts";
import { databaseUrl } from "../../server/db/url.ts";
import type { HostConnection, HypervisorDriver } from "../../server/hypervisor/driver.ts";
import { HostPool } from "../../server/hypervisor/host-pool.ts";

const sourcePort = Number(process.env.BENCH_SOURCE_PORT);
const liveXml = (name: string) =>
  `<domain type='kvm' id='7'><name>${name}</name><devices>` +
  `<graphics type='vnc' port='${sourcePort}' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>` +
  `</devices></domain>`;

// Only what the proxy calls on a host; anything else would be a bug in the benchmark's assumptions.
const host: Partial<HostConnection> = {
  uri: "qemu:///system",
  isConnected: true,
  domainXml: async (name) => (traceMark("xml"), liveXml(name)),
  domainState: async () => "running",
  close: async () => undefined,
};
const driver = { connect: () => host as HostConnection } as unknown as HypervisorDriver;

const server = http.createServer((_req, res) => res.writeHead(404).end());
const store = PgConsoleStore.connect(databaseUrl(), 4);
server.listen(0, "127.0.0.1", () => {
  const port = (server.address() as net.AddressInfo).port;
  const proxy = new ConsoleProxy({
    store,
    hosts: new HostPool(driver, 5000),
    portalOrigin: `http://127.0.0.1:${port}`,
    clock: { now: () => new Date() },
    limits: { idleTimeoutS: 600, maxSessionS: 3600, maxPerUser: 64, maxPerVm: 64, pingS: 15 },
  });
  proxy.start();
  if (process.env.BENCH_PROXY_TRACE) traceConnects(proxy, store);
  server.on("upgrade", (req, socket, head) => {
    if (process.env.BENCH_PROXY_TRACE) (req as Traced).t0 = performance.now();
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
  process.send?.({ port });
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

let traceMark = (_phase: string): void => undefined;
type Traced = http.IncomingMessage & { t0?: number };
type Hookable = Record<string, (...a: never[]) => unknown>;

/**
 * BENCH_PROXY_TRACE=1 (with BENCH_PHASE=first_byte): where one connect's time goes inside the proxy,
 * from the upgrade request to the first display byte handed to the websocket — checks (Origin, ticket
 * parse and hash), redeem (the ticket statement), xml (live domain XML), target (XML parse and the TCP
 * connect to the display), upgrade (101 written), first (first display byte sent). Assumes connects
 * come one at a time, as in the first-byte phase. Percentiles go to stderr on exit. The proxy's
 * methods are wrapped from outside; the proxy itself carries no tracing.
 */
function traceConnects(proxy: ConsoleProxy, st: PgConsoleStore): void {
  const phases: Record<string, number[]> = { checks: [], redeem: [], xml: [], target: [], upgrade: [], first: [] };
  const p = proxy as unknown as Hookable;
  let last: number | null = null;
  traceMark = (name) => {
    if (last === null) return;
    const now = performance.now();
    phases[name]!.push(now - last);
    last = now;
  };
  const wrap = (name: string, around: (orig: (...a: unknown[]) => unknown, ...a: unknown[]) => unknown) => {
    const orig = (p[name] as (...a: unknown[]) => unknown).bind(proxy);
    (p as Record<string, unknown>)[name] = (...a: unknown[]) => around(orig, ...a);
  };
  wrap("accept", (orig, req, ...rest) => {
    last = (req as Traced).t0 ?? performance.now();
    return orig(req, ...rest);
  });
  const redeem = st.redeemTicket.bind(st);
  st.redeemTicket = async (...a) => {
    traceMark("checks");
    const r = await redeem(...a);
    traceMark("redeem");
    return r;
  };
  wrap("connectTarget", async (orig, ...a) => {
    const r = await orig(...a);
    traceMark("target");
    return r;
  });
  wrap("run", (orig, s, ws, raw) => {
    traceMark("upgrade");
    const sock = ws as { send: (...a: unknown[]) => void };
    const send = sock.send.bind(sock);
    let first = true;
    sock.send = (...a: unknown[]) => {
      if (first) {
        first = false;
        traceMark("first");
        last = null;
      }
      send(...a);
    };
    return orig(s, ws, raw);
  });
  process.on("exit", () => {
    const q = (xs: number[], f: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(f * xs.length) - 1)] ?? 0;
    const out = Object.fromEntries(Object.entries(phases).map(([k, xs]) => [k, { n: xs.length, p50: +q(xs, 0.5).toFixed(3), p95: +q(xs, 0.95).toFixed(3), max: +Math.max(...xs).toFixed(3) }]));
    process.stderr.write(`proxy connect phases (ms): ${JSON.stringify(out)}\n`);
  });
}
