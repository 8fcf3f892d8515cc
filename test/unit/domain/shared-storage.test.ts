import { describe, expect, it } from "vitest";
import { inSharedPool, sharesPool } from "../../../server/domain/shared-storage.ts";
import { replicaVolumeName } from "../../../server/jobs/image-copy.ts";
import { domainXml } from "../../../server/jobs/vm-layout.ts";

const nfs = { poolName: "vmdesk", poolPath: "/mnt/nfs/vmdesk", poolShared: true };

describe("shared pools", () => {
  it("two hosts share a pool only when both declare it shared, with the same name and path", () => {
    expect(sharesPool(nfs, { ...nfs })).toBe(true);
    expect(sharesPool(nfs, { ...nfs, poolPath: "/mnt/nfs/vmdesk/" })).toBe(true);
    expect(sharesPool(nfs, { ...nfs, poolShared: false })).toBe(false);
    expect(sharesPool({ ...nfs, poolShared: false }, { ...nfs, poolShared: false })).toBe(false);
    expect(sharesPool(nfs, { ...nfs, poolPath: "/mnt/nfs/other" })).toBe(false);
    expect(sharesPool(nfs, { ...nfs, poolName: "other" })).toBe(false);
  });

  it("a file is in a shared pool when it lies inside its directory (no tricks with '..')", () => {
    expect(inSharedPool(nfs, "/mnt/nfs/vmdesk/vmdesk-image-1.qcow2")).toBe(true);
    expect(inSharedPool(nfs, "/mnt/nfs/vmdesk/../etc/passwd")).toBe(false);
    expect(inSharedPool(nfs, "/mnt/nfs/vmdesk-other/x.qcow2")).toBe(false);
    expect(inSharedPool({ ...nfs, poolShared: false }, "/mnt/nfs/vmdesk/x.qcow2")).toBe(false);
  });

  it("each host's image copy in a shared pool has its own file; a private pool keeps the plain name", () => {
    const image = { id: "0b9e", format: "qcow2" };
    expect(replicaVolumeName(image, { id: "h1", poolShared: true })).toBe("vmdesk-image-0b9e-h1.qcow2");
    expect(replicaVolumeName(image, { id: "h2", poolShared: true })).not.toBe(replicaVolumeName(image, { id: "h1", poolShared: true }));
    expect(replicaVolumeName(image, { id: "h1", poolShared: false })).toBe("vmdesk-image-0b9e.qcow2");
  });

  it("disks on a shared pool bypass the host's page cache (cache='none'); private pools keep the default", () => {
    const vm = { id: "3f1c6a52-7a51-4c4e-9b0e-2f8b7c1d0a11", name: "v", ownerId: "u", domainName: "vmdesk-3f1c6a52", vcpus: 1, memoryMiB: 128, diskGiB: 1 };
    const host = { id: "h", uri: "qemu+tls://h1/system", domainType: "qemu", cpuMode: "none", poolName: "vmdesk", poolPath: "/mnt/nfs/vmdesk" };
    expect(domainXml(vm, { ...host, poolShared: true }, null, "/mnt/nfs/vmdesk/d.qcow2")).toContain(`<driver name="qemu" type="qcow2" cache="none"/>`);
    expect(domainXml(vm, host, null, "/mnt/nfs/vmdesk/d.qcow2")).toContain(`<driver name="qemu" type="qcow2"/>`);
  });
});
