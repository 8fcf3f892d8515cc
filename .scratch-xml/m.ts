import { buildDomainXml } from "../server/hypervisor/xml/index.js";
process.stdout.write(buildDomainXml({ name: "vmdesk-manual", uuid: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a12", title: "manual <test>",
 vcpus: 1, memoryMiB: 128, domainType: "qemu", cpuMode: "none", tcgTbCacheMiB: 32,
 disks: [{ path: "/var/lib/vmdesk-test/manual/vm.qcow2", format: "qcow2", device: "disk" }],
 boot: ["hd"], network: { type: "user" }, graphics: { listen: "127.0.0.1" }, serialLogPath: "/var/lib/vmdesk-test/manual/serial.log",
 metadata: { vmId: "vmdesk-manual", ownerId: "u1" } }));
