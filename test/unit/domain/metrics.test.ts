import { describe, expect, it } from "vitest";
import { domainRates, hostRates, type CounterReading } from "../../../server/domain/metrics.ts";

const dom = (name: string, over: Partial<CounterReading["domains"][number]> = {}) => ({
  name,
  running: true,
  cpuTimeNs: 0,
  vcpus: 1,
  balloonKiB: 131072,
  rssKiB: 65536,
  diskReadBytes: 0,
  diskWriteBytes: 0,
  diskReadReqs: 0,
  diskWriteReqs: 0,
  netRxBytes: 0,
  netTxBytes: 0,
  ...over,
});

const reading = (takenAtMs: number, busyNs: number, idleNs: number, domains: CounterReading["domains"]): CounterReading => ({
  takenAtMs,
  node: { cpuBusyNs: busyNs, cpuIdleNs: idleNs, memoryTotalKiB: 8 * 1024 * 1024, memoryAvailableKiB: 6 * 1024 * 1024 },
  domains,
});

describe("metrics from two readings", () => {
  it("host CPU is the busy share of the time that passed; memory used leaves out what is available", () => {
    const a = reading(0, 1e9, 9e9, []);
    const b = reading(10_000, 1e9 + 5e9, 9e9 + 15e9, []);
    expect(hostRates(a, b)).toEqual({ cpuPct: 25, memoryUsedMiB: 2048, memoryTotalMiB: 8192 });
    // The first reading has nothing to compare with.
    expect(hostRates(undefined, b).cpuPct).toBe(0);
  });

  it("a VM's CPU is a share of its own vCPUs; counters become per-second rates", () => {
    const a = reading(0, 0, 0, [dom("vm-a", { vcpus: 2 }), dom("vm-b")]);
    const b = reading(10_000, 0, 0, [
      dom("vm-a", { vcpus: 2, cpuTimeNs: 10e9, diskReadBytes: 10_240, diskWriteReqs: 50, netRxBytes: 1000, netTxBytes: 500 }),
      dom("vm-b", { cpuTimeNs: 10e9 }),
    ]);
    const [vmA, vmB] = domainRates(a, b);
    expect(vmA).toMatchObject({ name: "vm-a", cpuPct: 50, diskReadBps: 1024, diskWriteIops: 5, netRxBps: 100, netTxBps: 50, memoryMiB: 128, rssMiB: 64 });
    expect(vmB).toMatchObject({ name: "vm-b", cpuPct: 100 });
  });

  it("no rate for a domain new since the last reading, stopped, or whose counters went back (restarted or migrated in)", () => {
    const a = reading(0, 0, 0, [dom("old", { cpuTimeNs: 50e9 }), dom("stopped")]);
    const b = reading(10_000, 0, 0, [dom("old", { cpuTimeNs: 1e9 }), dom("stopped", { running: false }), dom("new", { cpuTimeNs: 5e9 })]);
    expect(domainRates(a, b)).toEqual([]);
    expect(domainRates(undefined, b)).toEqual([]);
    // Readings out of order or at the same instant give nothing rather than a division by zero.
    expect(domainRates(b, b)).toEqual([]);
  });

  // libvirt reads a busy domain (a start, a migration or a snapshot holds it) without its monitor
  // counters: zeros there would make a negative rate now and a spike of everything since boot next.
  it("a partial reading gives no rate, neither as the newer nor as the older of a pair", () => {
    const a = reading(0, 0, 0, [dom("x", { diskReadBytes: 5e9 }), dom("y")]);
    const b = reading(10_000, 0, 0, [dom("x", { diskReadBytes: 0, rssKiB: 0, partial: true }), dom("y", { cpuTimeNs: 1e9 })]);
    const c = reading(20_000, 0, 0, [dom("x", { diskReadBytes: 5e9 + 10_240 }), dom("y", { cpuTimeNs: 2e9 })]);
    expect(domainRates(a, b).map((r) => r.name)).toEqual(["y"]);
    expect(domainRates(b, c).map((r) => r.name)).toEqual(["y"]);
    expect(domainRates(a, c).find((r) => r.name === "x")?.diskReadBps).toBe(512);
  });

  it("caps CPU at 100 % (cpu.time includes QEMU's own threads)", () => {
    const a = reading(0, 0, 0, [dom("x")]);
    const b = reading(1_000, 0, 0, [dom("x", { cpuTimeNs: 1.3e9 })]);
    expect(domainRates(a, b)[0]!.cpuPct).toBe(100);
  });
});
