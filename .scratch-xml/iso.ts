import { buildDomainXml } from "../server/hypervisor/xml/index.js";
process.stdout.write(buildDomainXml({ name: "vmdesk-manual-iso", uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a13", title: "Ünïcødé <b>&'\"]]> 🚀 </title>", description: "line1\n  line2 <x> & ]]>\n",
 vcpus: 1, memoryMiB: 128, domainType: "qemu", cpuMode: "none", tcgTbCacheMiB: 32,
 disks: [{ path: "/var/lib/vmdesk-test/img/vmdesk-demo.iso", format: "raw", device: "cdrom" }],
 boot: ["cdrom"], network: null, graphics: { listen: "127.0.0.1" }, serialLogPath: "/var/lib/vmdesk-test/manual/serial-iso.log",
 metadata: { vmId: "vmdesk-manual-iso", ownerId: "owner-7", installation: "inst-1" } }));
