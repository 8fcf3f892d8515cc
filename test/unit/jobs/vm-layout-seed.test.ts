import { describe, expect, it } from "vitest";
import { parseDomainXml } from "../../../server/hypervisor/xml/index.ts";
import { domainXml, seedVolumeName, seedVolumePath } from "../../../server/jobs/vm-layout.ts";

const vm = { id: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", name: "v", ownerId: "u", domainName: "vmdesk-3f1c6a52", vcpus: 1, memoryMiB: 128, diskGiB: 1 };
const host = { id: "h", uri: "qemu:///system", domainType: "qemu", cpuMode: "none", poolName: "p", poolPath: "/pool/" };
const cloudInit = { hostname: "web1", userData: null, sshKeys: [] };

describe("the cloud-init seed disc in a VM's domain", () => {
  it("is a read-only IDE CD-ROM at the seed volume's path, only for VMs with cloud-init", () => {
    expect(seedVolumeName(vm)).toBe("vmdesk-3f1c6a52-cidata.iso");
    expect(seedVolumePath(vm, host)).toBe("/pool/vmdesk-3f1c6a52-cidata.iso");
    const xml = domainXml({ ...vm, cloudInit }, host, null, "/pool/vmdesk-3f1c6a52.qcow2");
    expect(parseDomainXml(xml).disks).toEqual([
      { path: "/pool/vmdesk-3f1c6a52.qcow2", device: "disk" },
      { path: "/pool/vmdesk-3f1c6a52-cidata.iso", device: "cdrom" },
    ]);
    expect(xml).toMatch(/<source file="\/pool\/vmdesk-3f1c6a52-cidata\.iso"\/>\s*<target dev="hda" bus="ide"\/>\s*<readonly\/>/);
    expect(parseDomainXml(domainXml({ ...vm, cloudInit: null }, host, null, "/pool/x.qcow2")).disks).toHaveLength(1);
    // A value that is not a stored seed attaches nothing (the worker would not have built one).
    expect(parseDomainXml(domainXml({ ...vm, cloudInit: { hostname: 1 } }, host, null, "/pool/x.qcow2")).disks).toHaveLength(1);
  });

  it("sits beside an install ISO (SATA) without taking its place", () => {
    const xml = domainXml({ ...vm, cloudInit }, host, { path: "/images/install.iso", format: "iso" }, "/pool/x.qcow2");
    expect(parseDomainXml(xml).disks.map((d) => d.path)).toEqual(["/pool/x.qcow2", "/images/install.iso", "/pool/vmdesk-3f1c6a52-cidata.iso"]);
    expect(xml).toContain(`<target dev="sda" bus="sata"/>`);
    expect(xml).toContain(`<target dev="hda" bus="ide"/>`);
  });
});
