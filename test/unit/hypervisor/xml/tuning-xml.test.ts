/**
 * Flavor tuning in the domain XML: each element built by buildDomainXml and read back with a generic
 * parser (fast-xml-parser), so the test checks the document, not our own reader.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { buildDomainXml, type DomainSpec } from "../../../../server/hypervisor/xml/index.ts";
import { NO_TUNING } from "../../../../server/domain/flavor.ts";
import { domainSpec, tuningSpec, type VmTuning } from "../../../../server/jobs/vm-layout.ts";

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "vm-1",
    uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11",
    title: "t",
    vcpus: 2,
    memoryMiB: 256,
    domainType: "qemu",
    cpuMode: "none",
    disks: [{ path: "/pool/vm-1.qcow2", format: "qcow2", device: "disk" }],
    boot: ["hd"],
    network: { type: "network", name: "vmdesk-nat" },
    graphics: { unixSocket: true },
    metadata: { vmId: "vm-1", ownerId: "u" },
    ...overrides,
  };
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "", parseTagValue: false, isArray: (name) => ["vcpupin", "cell", "hostdev", "disk"].includes(name) });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const parse = (xml: string): any => {
  expect(XMLValidator.validate(xml)).toBe(true);
  return parser.parse(xml).domain;
};

describe("domain XML tuning elements", () => {
  it("<cputune>: a vcpupin per vCPU, the emulatorpin on their set, shares, period and quota", () => {
    const d = parse(buildDomainXml(spec({ cputune: { vcpuPins: [3, 1], emulatorPins: [3, 1], shares: 512, periodUs: 100000, quotaUs: 50000 } })));
    expect(d.cputune.vcpupin).toEqual([{ vcpu: "0", cpuset: "3" }, { vcpu: "1", cpuset: "1" }]);
    expect(d.cputune.emulatorpin).toEqual({ cpuset: "1,3" });
    expect(d.cputune).toMatchObject({ shares: "512", period: "100000", quota: "50000" });
  });

  it("no <cputune> without tuning, and pins for more vCPUs than the domain has are refused", () => {
    expect(parse(buildDomainXml(spec())).cputune).toBeUndefined();
    expect(() => buildDomainXml(spec({ cputune: { vcpuPins: [1, 2, 3] } }))).toThrow(/vcpupin/);
    expect(() => buildDomainXml(spec({ cputune: { vcpuPins: [-1] } }))).toThrow(/pCPU/);
  });

  it("guest NUMA: cells split vCPUs and memory evenly inside <cpu> (one without a mode for cpuMode none), and <numatune>", () => {
    const d = parse(buildDomainXml(spec({ vcpus: 4, memoryMiB: 512, numa: { cells: 2, tune: { mode: "strict", nodeset: "0-1" } } })));
    expect(d.cpu.mode).toBeUndefined();
    expect(d.cpu.numa.cell).toEqual([
      { id: "0", cpus: "0-1", memory: String(256 * 1024), unit: "KiB" },
      { id: "1", cpus: "2-3", memory: String(256 * 1024), unit: "KiB" },
    ]);
    expect(d.numatune.memory).toEqual({ mode: "strict", nodeset: "0-1" });
    const passthrough = parse(buildDomainXml(spec({ domainType: "kvm", cpuMode: "host-passthrough", numa: { cells: 1 } })));
    expect(passthrough.cpu).toMatchObject({ mode: "host-passthrough", numa: { cell: [{ id: "0", cpus: "0-1" }] } });
    expect(passthrough.numatune).toBeUndefined();
    expect(() => buildDomainXml(spec({ numa: { cells: 3 } }))).toThrow(/NUMA/);
    expect(() => buildDomainXml(spec({ numa: { cells: 1, tune: { mode: "strict", nodeset: "0;rm" } } }))).toThrow(/nodeset/);
  });

  it("<memoryBacking>: huge pages of the size, from a memfd (no hugetlbfs mount needed)", () => {
    const d = parse(buildDomainXml(spec({ hugepagesKiB: 2048 })));
    expect(d.memoryBacking.hugepages.page).toEqual({ size: "2048", unit: "KiB" });
    expect(d.memoryBacking.source).toEqual({ type: "memfd" });
  });

  it("<iotune> on the disk", () => {
    const d = parse(buildDomainXml(spec({ disks: [{ path: "/pool/vm-1.qcow2", format: "qcow2", device: "disk", iotune: { totalIopsSec: 200, readBytesSec: 10n ** 7n, writeBytesSec: 5_000_000 } }] })));
    expect(d.devices.disk[0].iotune).toEqual({ total_iops_sec: "200", read_bytes_sec: "10000000", write_bytes_sec: "5000000" });
  });

  it("<bandwidth> on the interface: inbound and outbound average, peak, burst", () => {
    const d = parse(buildDomainXml(spec({ network: { type: "network", name: "vmdesk-nat", filter: "f", bandwidth: { inbound: { average: 1000, peak: 2000, burst: 1024 }, outbound: { average: 500 } } } })));
    expect(d.devices.interface.bandwidth).toEqual({ inbound: { average: "1000", peak: "2000", burst: "1024" }, outbound: { average: "500" } });
  });

  it("<hostdev>: a managed PCI subsystem device per address, in hex", () => {
    const d = parse(buildDomainXml(spec({ hostdevs: [{ domain: 0, bus: 0x65, slot: 0, function: 1 }, { domain: 0x10, bus: 3, slot: 0x1f, function: 7 }] })));
    expect(d.devices.hostdev).toEqual([
      { mode: "subsystem", type: "pci", managed: "yes", source: { address: { domain: "0x0000", bus: "0x65", slot: "0x00", function: "0x1" } } },
      { mode: "subsystem", type: "pci", managed: "yes", source: { address: { domain: "0x0010", bus: "0x03", slot: "0x1f", function: "0x7" } } },
    ]);
    expect(() => buildDomainXml(spec({ hostdevs: [{ domain: 0, bus: 0, slot: 0x20, function: 0 }] }))).toThrow(/PCI/);
  });
});

describe("a flavor's tuning in a VM's domain (vm-layout)", () => {
  const vm = { id: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", name: "v", ownerId: "u", domainName: "vmdesk-3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", vcpus: 2, memoryMiB: 256, diskGiB: 1 };
  const host = { id: "h", uri: "qemu:///system", domainType: "qemu", cpuMode: "none", poolName: "p", poolPath: "/pool" };
  const tuning = (over: Partial<VmTuning>): VmTuning => ({ ...NO_TUNING, pcpus: [], ...over });

  it("dedicated CPUs pin vCPU i to the i-th allocated pCPU and the emulator to the set; without enough pCPUs nothing is pinned", () => {
    expect(tuningSpec(tuning({ dedicatedCpus: true, pcpus: [2, 5] }), 2).cputune).toEqual({ vcpuPins: [2, 5], emulatorPins: [2, 5] });
    expect(tuningSpec(tuning({ dedicatedCpus: true, pcpus: [2] }), 2).cputune).toBeUndefined();
  });

  it("every knob reaches the spec: iotune on the VM's disk only, bandwidth on its interface, PCI devices parsed, UEFI and TPM passed on", () => {
    const t = tuning({
      cpuShares: 100, numaNodes: 2, numaMode: "preferred", numaNodeset: "0", hugepagesKiB: 2048, diskReadIops: 10, diskWriteBytesSec: 1000n,
      netOutAverageKiBs: 10, netOutBurstKiB: 20, hostDevices: ["0000:65:00.0"], firmware: "uefi", secureBoot: true, tpm: true,
    });
    const s = domainSpec({ ...vm, tuning: t, cloudInit: { hostname: "h", userData: null, sshKeys: [] } }, host, { path: "/img.qcow2", format: "qcow2" }, "/pool/d.qcow2");
    expect(s.cputune).toEqual({ shares: 100 });
    expect(s.numa).toEqual({ cells: 2, tune: { mode: "preferred", nodeset: "0" } });
    expect(s.hugepagesKiB).toBe(2048);
    expect(s.disks[0]!.iotune).toEqual({ totalIopsSec: undefined, readIopsSec: 10, writeIopsSec: undefined, totalBytesSec: undefined, readBytesSec: undefined, writeBytesSec: 1000n });
    expect(s.disks.slice(1).every((d) => d.iotune === undefined)).toBe(true);
    expect(s.network).toMatchObject({ type: "network", bandwidth: { outbound: { average: 10, burst: 20 } } });
    expect(s.hostdevs).toEqual([{ domain: 0, bus: 0x65, slot: 0, function: 0 }]);
    expect(s.firmware).toEqual({ type: "uefi", secureBoot: true });
    expect(s.tpm).toBe(true);
    // The whole document builds.
    expect(XMLValidator.validate(buildDomainXml(s))).toBe(true);
  });

  it("a VM without a flavor gets none of it", () => {
    const s = domainSpec(vm, host, null, "/pool/d.qcow2");
    expect([s.cputune, s.numa, s.hugepagesKiB, s.hostdevs, s.disks[0]!.iotune, s.firmware, s.tpm]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(s.network && "bandwidth" in s.network).toBe(false);
  });
});
