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
import { HostPool } from "../../server/jobs/host-pool.ts";

const sourcePort = Number(process.env.BENCH_SOURCE_PORT);
const liveXml = (name: string) =>
  `<domain type='kvm' id='7'><name>${name}</name><devices>` +
  `<graphics type='vnc' port='${sourcePort}' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>` +
  `</devices></domain>`;

// Only what the proxy calls on a host; anything else would be a bug in the benchmark's assumptions.
const host: Partial<HostConnection> = {
  uri: "qemu:///system",
  isConnected: true,
  domainXml: async (name) => liveXml(name),
  domainState: async () => "running",
  close: async () => undefined,
};
const driver = { connect: () => host as HostConnection } as unknown as HypervisorDriver;

const server = http.createServer((_req, res) => res.writeHead(404).end());
server.listen(0, "127.0.0.1", () => {
  const port = (server.address() as net.AddressInfo).port;
  const proxy = new ConsoleProxy({
    store: PgConsoleStore.connect(databaseUrl(), 4),
    hosts: new HostPool(driver, 5000),
    portalOrigin: `http://127.0.0.1:${port}`,
    clock: { now: () => new Date() },
    limits: { idleTimeoutS: 600, maxSessionS: 3600, maxPerUser: 64, maxPerVm: 64, pingS: 15 },
  });
  proxy.start();
  server.on("upgrade", (req, socket, head) => {
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
  process.send?.({ port });
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
