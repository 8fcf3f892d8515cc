/**
 * One live connection per host, created on first use and replaced when a host's URI changes. Only
 * jobs and the console use it: requests never talk to hosts.
 */
import type { HostConnectOptions, HostConnection, HypervisorDriver } from "./driver.ts";

export interface HostRef {
  id: string;
  uri: string;
}

export class HostPool {
  private readonly connections = new Map<string, HostConnection>();
  private readonly listeners = new Set<(hostId: string, conn: HostConnection) => void>();

  constructor(
    private readonly driver: HypervisorDriver,
    private readonly callTimeoutMs: number,
    private readonly connectOptions: Pick<HostConnectOptions, "runningWeightDivisor"> = {},
  ) {}

  get(host: HostRef): HostConnection {
    const existing = this.connections.get(host.id);
    if (existing && existing.uri === host.uri) return existing;
    if (existing) void existing.close().catch(() => undefined);
    const conn = this.driver.connect({ ...this.connectOptions, uri: host.uri, callTimeoutMs: this.callTimeoutMs, keepalive: { intervalS: 5, count: 3 } });
    this.connections.set(host.id, conn);
    for (const l of this.listeners) l(host.id, conn);
    return conn;
  }

  /** Called whenever a host gets a new connection object (monitors subscribe to its events). */
  onConnection(listener: (hostId: string, conn: HostConnection) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async closeAll(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}
