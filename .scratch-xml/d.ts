import { buildDomainXml, parseDomainXml, buildVolumeXml } from "../server/hypervisor/xml/index.js";
const xml = buildDomainXml({ name: "vm-1", uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", title: "A <b>&'\"]]> ü 🚀", description: "multi\nline <x>",
 vcpus: 1, memoryMiB: 128, domainType: "qemu", cpuMode: "none", tcgTbCacheMiB: 32,
 disks: [{ path: "/var/lib/x.qcow2", format: "qcow2", device: "disk" }, { path: "/var/lib/x.iso", format: "raw", device: "cdrom" }],
 boot: ["hd", "cdrom"], network: { type: "user" }, graphics: { listen: "127.0.0.1" }, serialLogPath: "/var/log/s.log",
 metadata: { vmId: "vm-1", ownerId: "u1", installation: "inst" } });
console.log(xml); console.log(JSON.stringify(parseDomainXml(xml), null, 1));
console.log(buildVolumeXml({ name: "a.qcow2", capacityBytes: 1 << 30, format: "qcow2", backing: { path: "/b.qcow2", format: "qcow2" } }));
