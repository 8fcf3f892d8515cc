/**
 * `npm run bench:metrics` — is one metrics round cheap enough for 50 hosts × 2 000 VMs at the 10 s
 * interval? Measures, in one run against the real embedded PostgreSQL: the rate computation
 * (domain/metrics) for 50 synthetic readings of 2 000 domains each, and storing the round with the
 * collector's own storeRound (one HostMetric row and one INSERT … SELECT FROM unnest of the VMs per
 * host), against Prisma's createMany of the same 100 050 rows (what the collector first did: this
 * benchmark showed it at 31 s a round, three times the interval). The libvirt side (one bulk call per host, in parallel) and
 * the domain-name lookup are not in it. Prints one JSON line; target: round well under the interval.
 *
 * Then, with BENCH_GUESTS (default 10; 0 skips it) real guests booted on this machine's libvirt: one
 * collection round of that host as the collector runs it (metricsSample: the node's counters and every
 * domain's in one bulk call on the kept connection, the rates, storeRound) against `virsh domstats`
 * of the same host in the same run (the same bulk call from the command line). A second JSON line,
 * `"bench":"metrics_host"`; target: ratio ≤ 1.2.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { config, resetConfigForTests } from "../../server/config.ts";
import { db, disconnectDb } from "../../server/db/client.ts";
import { domainRates, hostRates, type CounterReading } from "../../server/domain/metrics.ts";
import { storeRound } from "../../server/jobs/metrics-collector.ts";
import { LibvirtHostConnection } from "../../server/hypervisor/libvirt/libvirt-host.ts";
import { buildDomainXml, buildVolumeXml } from "../../server/hypervisor/xml/index.ts";
import { demoImageDir } from "../support/harness.ts";
import { assertBenchPrepared, prepareBenchDatabase } from "./baseline.ts";

assertBenchPrepared("metrics");
const HOSTS = Number(process.env.BENCH_HOSTS ?? 50);
const VMS_PER_HOST = Number(process.env.BENCH_VMS_PER_HOST ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const GUESTS = Number(process.env.BENCH_GUESTS ?? 10);

const { url } = await prepareBenchDatabase("vmdesk_bench_metrics", "mbm");
process.env.DATABASE_URL = url;
resetConfigForTests();
const intervalS = config().VMDESK_METRICS_INTERVAL_MS / 1000;

const hostIds = Array.from({ length: HOSTS }, () => randomUUID());
const vmIds = hostIds.map(() => Array.from({ length: VMS_PER_HOST }, () => randomUUID()));

function reading(h: number, t: number): CounterReading {
  return {
    takenAtMs: t * 10_000,
    node: { cpuBusyNs: t * 1e10 * (0.3 + h / 1000), cpuIdleNs: t * 1e10, memoryTotalKiB: 256 * 1024 * 1024, memoryAvailableKiB: 100 * 1024 * 1024 },
    domains: vmIds[h]!.map((_, i) => ({
      name: `vmdesk-${h}-${i}`,
      running: true,
      cpuTimeNs: t * 1e9 * ((i % 10) / 10),
      vcpus: 1 + (i % 4),
      balloonKiB: 1024 * 1024,
      rssKiB: 600 * 1024,
      diskReadBytes: t * i * 1000,
      diskWriteBytes: t * i * 500,
      diskReadReqs: t * i,
      diskWriteReqs: t * i,
      netRxBytes: t * i * 100,
      netTxBytes: t * i * 50,
    })),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const storeRuns: number[] = [];
const createManyRuns: number[] = [];
const rateRuns: number[] = [];

try {
  for (let round = 1; round <= ROUNDS; round++) {
    const at = new Date(Date.now() + round * 10_000);
    // Rates: what the collector computes per host per round.
    const t0 = performance.now();
    const computed = hostIds.map((_, h) => {
      const prev = reading(h, round);
      const cur = reading(h, round + 1);
      return { host: hostRates(prev, cur), vms: domainRates(prev, cur) };
    });
    rateRuns.push(performance.now() - t0);

    // Portal: the collector's own storeRound per host (hosts in parallel, as the collector runs them).
    const t1 = performance.now();
    await Promise.all(
      hostIds.map(async (hostId, h) => {
        const c = computed[h]!;
        await storeRound(db(), { hostId, at, step: intervalS, host: c.host, diskFreeGiB: 100, vmCount: c.vms.length }, c.vms.map((v, i) => ({ vmId: vmIds[h]![i]!, ...v })));
      }),
    );
    storeRuns.push((performance.now() - t1) / 1000);

    // Baseline: Prisma's createMany, what the collector used before (and the obvious way to write it).
    const t2 = performance.now();
    const rawAt = new Date(at.getTime() + 5_000);
    await Promise.all(
      hostIds.map(async (hostId, h) => {
        const c = computed[h]!;
        await db().hostMetric.create({ data: { hostId, at: rawAt, step: intervalS, cpuPct: c.host.cpuPct, memoryUsedMiB: c.host.memoryUsedMiB, memoryTotalMiB: c.host.memoryTotalMiB, diskFreeGiB: 100, vmCount: c.vms.length } });
        await db().vmMetric.createMany({ data: c.vms.map(({ name: _n, ...r }, i) => ({ vmId: vmIds[h]![i]!, hostId, at: rawAt, step: intervalS, ...r })) });
      }),
    );
    createManyRuns.push((performance.now() - t2) / 1000);
    console.error(`[bench:metrics] round ${round}: rates ${rateRuns.at(-1)!.toFixed(0)} ms, store ${storeRuns.at(-1)!.toFixed(2)} s, createMany ${createManyRuns.at(-1)!.toFixed(2)} s`);
  }
  const store_s = median(storeRuns);
  const createMany_s = median(createManyRuns);
  const rates_ms = median(rateRuns);
  console.log(
    JSON.stringify({
      bench: "metrics",
      hosts: HOSTS,
      vms: HOSTS * VMS_PER_HOST,
      interval_s: intervalS,
      rates_ms: +rates_ms.toFixed(1),
      store_s: +store_s.toFixed(2),
      baseline_createmany_s: +createMany_s.toFixed(2),
      ratio: +(store_s / createMany_s).toFixed(2),
      round_share_of_interval: +((store_s + rates_ms / 1000) / intervalS).toFixed(3),
    }),
  );
  if (GUESTS > 0) await hostRound();
} finally {
  await disconnectDb();
}
process.exit(0);

/** One real host's collection round against `virsh domstats`, with GUESTS guests running there. */
async function hostRound(): Promise<void> {
  const uri = "qemu:///system";
  const pool = "vmdesk";
  const conn = new LibvirtHostConnection({ uri, callTimeoutMs: 30_000 });
  const names: string[] = [];
  const virsh = promisify(execFile);
  try {
    const base = path.join(demoImageDir, "vmdesk-demo.qcow2");
    for (let i = 0; i < GUESTS; i++) {
      const name = `vmdesk-mbench-${randomUUID().slice(0, 8)}`;
      const disk = await conn.createVolume(pool, buildVolumeXml({ name: `${name}.qcow2`, capacityBytes: 1024 ** 3, format: "qcow2", backing: { path: base, format: "qcow2" } }));
      await conn.defineDomain(
        buildDomainXml({
          name, uuid: randomUUID(), title: name, vcpus: 1, memoryMiB: 96, domainType: "qemu", cpuMode: "none", tcgTbCacheMiB: 32,
          disks: [{ path: disk, format: "qcow2", device: "disk", bus: "virtio" }], boot: ["hd"], network: null, graphics: { unixSocket: true },
          metadata: { vmId: randomUUID(), ownerId: randomUUID() },
        }),
      );
      names.push(name);
      await conn.startDomain(name);
    }
    // The guests boot meanwhile; both sides are measured alternately on the same busy host.
    const hostId = randomUUID();
    let prev = await conn.metricsSample();
    const portalRuns: number[] = [];
    const virshRuns: number[] = [];
    for (let round = 0; round < 10; round++) {
      const t0 = performance.now();
      const sample = await conn.metricsSample();
      const host = hostRates(prev, sample);
      const vms = domainRates(prev, sample);
      await storeRound(db(), { hostId, at: new Date(sample.takenAtMs), step: intervalS, host, diskFreeGiB: 100, vmCount: vms.length }, vms.map((v) => ({ vmId: randomUUID(), ...v })));
      portalRuns.push(performance.now() - t0);
      prev = sample;
      const t1 = performance.now();
      await virsh("virsh", ["-q", "-c", uri, "domstats"], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
      virshRuns.push(performance.now() - t1);
    }
    const portal_ms = median(portalRuns);
    const virsh_ms = median(virshRuns);
    console.log(JSON.stringify({ bench: "metrics_host", guests: GUESTS, rounds: portalRuns.length, round_ms: +portal_ms.toFixed(1), baseline_virsh_domstats_ms: +virsh_ms.toFixed(1), ratio: +(portal_ms / virsh_ms).toFixed(2) }));
  } finally {
    for (const name of names) {
      await conn.destroyDomain(name).catch(() => undefined);
      await conn.undefineDomain(name).catch(() => undefined);
      await conn.deleteVolume(pool, `${name}.qcow2`).catch(() => undefined);
    }
    await conn.close();
  }
}
