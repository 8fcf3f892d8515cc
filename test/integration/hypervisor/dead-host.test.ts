/**
 * A host that accepts TCP connections and never answers (the worst case: no error, no EOF) must
 * only ever cost its own bounded native threads: its calls time out on schedule, while calls to a
 * healthy host and file I/O carry on, and the process still exits on its own.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HypervisorError } from "../../../server/hypervisor/driver.ts";
import { LibvirtHostConnection } from "../../../server/hypervisor/libvirt/libvirt-host.ts";

const hostModule = fileURLToPath(new URL("../../../server/hypervisor/libvirt/libvirt-host.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

const threadCount = () => readdirSync("/proc/self/task").length;

describe("a dead host", () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s); // accept, read nothing, answer nothing
    s.on("close", () => sockets.delete(s));
  });
  let deadUri = "";
  let dead: LibvirtHostConnection;
  let live: LibvirtHostConnection;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    deadUri = `qemu+tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}/system`;
    live = new LibvirtHostConnection({ uri: "qemu:///system", callTimeoutMs: 10_000 });
    await live.listDomains();
    await readFile(import.meta.filename); // start libuv's pool threads before counting threads
  }, 30_000);

  afterAll(async () => {
    await dead?.close();
    await live?.close();
    for (const s of sockets) s.destroy(); // lets the stuck virConnectOpen fail and its thread end
    await new Promise((resolve) => server.close(resolve));
  }, 30_000);

  it("times out on schedule while the live host and file I/O stay fast", { timeout: 60_000 }, async () => {
    const before = threadCount();
    dead = new LibvirtHostConnection({ uri: deadUri, callTimeoutMs: 2_000 });
    const t0 = performance.now();
    const since = () => performance.now() - t0;

    const deadCall = dead.listDomains().then(
      () => ({ error: undefined, ms: since() }),
      (error: unknown) => ({ error, ms: since() }),
    );
    const liveCalls = Array.from({ length: 20 }, () => live.listDomains().then(since));
    const reads = Array.from({ length: 20 }, () => readFile(import.meta.filename).then(since));
    const [liveMs, readMs] = await Promise.all([Promise.all(liveCalls), Promise.all(reads)]);
    expect(Math.max(...liveMs)).toBeLessThan(1_500);
    expect(Math.max(...readMs)).toBeLessThan(1_500);

    const { error, ms } = await deadCall;
    expect(error).toBeInstanceOf(HypervisorError);
    expect(error).toMatchObject({ kind: "timeout" });
    expect(ms).toBeGreaterThanOrEqual(1_900);
    expect(ms).toBeLessThan(3_000);
    expect(dead.isConnected).toBe(false);

    // Ten more calls share the one open still stuck in virConnectOpen: no new threads.
    const mid = threadCount();
    const more = await Promise.all(Array.from({ length: 10 }, () => dead.hostFacts().catch((e: unknown) => e)));
    for (const e of more) expect(e).toMatchObject({ kind: "timeout" });
    expect(dead.nativeThreadCount()).toBe(1);
    expect(threadCount() - mid).toBeLessThanOrEqual(1);
    // Budget for the whole test: 1 thread for the dead host's open, up to 3 more workers for the
    // live connection (4 per connection) under 20 parallel calls, 1 spare for the runtime.
    expect(threadCount() - before).toBeLessThanOrEqual(5);
    console.log(
      `[dead-host] dead call rejected after ${Math.round(ms)} ms; 20 live calls within ${Math.round(Math.max(...liveMs))} ms, ` +
        `20 reads within ${Math.round(Math.max(...readMs))} ms; threads +${threadCount() - before} (+${threadCount() - mid} for 10 more dead calls)`,
    );
  });

  it("abandons a hung open once and retries, with at most two threads for the host", { timeout: 30_000 }, async () => {
    const before = threadCount();
    const host = new LibvirtHostConnection({
      uri: deadUri,
      callTimeoutMs: 500,
      openAbandonMs: 1_000,
      reconnect: { initialMs: 100, maxMs: 200 },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(host.nativeThreadCount()).toBe(2); // the abandoned open and its replacement
      expect(host.lastConnectError).toMatchObject({ kind: "timeout" });
      await expect(host.listDomains()).rejects.toBeInstanceOf(HypervisorError);
      expect(threadCount() - before).toBeLessThanOrEqual(3);
    } finally {
      await host.close();
    }
  });

  it.each([
    ["exits on its own after close()", "await dead.close();"],
    ["exits at process.exit() without close()", "process.exit(0);"],
  ])("a process with a thread stuck in the dead host %s", { timeout: 30_000 }, async (_, ending) => {
    const script = `
      const { LibvirtHostConnection } = await import(${JSON.stringify(hostModule)});
      const dead = new LibvirtHostConnection({ uri: ${JSON.stringify(deadUri)}, callTimeoutMs: 1000 });
      const e = await dead.listDomains().catch((e) => e);
      console.log(e.kind);
      ${ending}
    `;
    const t0 = performance.now();
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        { cwd: repoRoot, timeout: 20_000 },
        (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout }),
      );
      child.stdin?.end();
    });
    expect(result).toEqual({ code: 0, stdout: "timeout\n" });
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it("a host that freezes after connecting is dropped by keepalive, then reconnected", { timeout: 60_000 }, async () => {
    // A unix-socket proxy in front of the real libvirtd that we can freeze, so the shared daemon
    // itself is never stopped.
    let frozen = false;
    const proxyPath = `/tmp/vmdesk-test-proxy-${process.pid}.sock`;
    const proxy = net.createServer((client) => {
      const upstream = net.connect("/var/run/libvirt/libvirt-sock");
      client.on("data", (d) => frozen || upstream.write(d));
      upstream.on("data", (d) => frozen || client.write(d));
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.on("error", () => undefined);
      upstream.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(proxyPath, resolve));
    const host = new LibvirtHostConnection({
      uri: `qemu+unix:///system?socket=${proxyPath}`,
      callTimeoutMs: 2_000,
      keepalive: { intervalS: 1, count: 2 },
      reconnect: { initialMs: 200, maxMs: 1_000 },
    });
    const events: { type: string; at: number; reason?: string }[] = [];
    host.onEvent((e) => e.type !== "lifecycle" && events.push({ ...e, at: performance.now() }));
    try {
      await host.listDomains();
      frozen = true;
      const t0 = performance.now();
      await expect(host.listDomains()).rejects.toMatchObject({ kind: "timeout" });
      await expect.poll(() => events.find((e) => e.type === "disconnected"), { timeout: 10_000 }).toMatchObject({
        reason: "keepalive",
      });
      const lostAfterMs = events.find((e) => e.type === "disconnected")!.at - t0;
      expect(lostAfterMs).toBeLessThan(6_000);
      await expect(host.listDomains()).rejects.toMatchObject({ kind: "disconnected" });

      frozen = false;
      await expect.poll(() => host.isConnected, { timeout: 10_000 }).toBe(true);
      expect(events.map((e) => e.type)).toEqual(["connected", "disconnected", "connected"]);
      expect(Array.isArray(await host.listDomains())).toBe(true);
      console.log(`[dead-host] frozen host dropped by keepalive after ${Math.round(lostAfterMs)} ms`);
    } finally {
      await host.close();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
