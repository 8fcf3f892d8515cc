import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import { domainExists, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

let portal: Portal;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_lifecycle");
});
afterAll(async () => {
  await portal?.close();
});

describe("VM lifecycle on real libvirt", () => {
  it("create → running (banner on serial) → shutdown → start → delete leaves no domain and no disk", async () => {
    const tenant = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 512, diskGiB: 10 });
    const api = portal.caller(tenant);
    const created = await api.vm.create({ name: `life <&> "quoted" ]]>`, imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
    expect(created.vm.state).toBe("provisioning");
    expect(created.operation.kind).toBe("create");
    const op = await settle(portal, tenant, created.operation.id);
    expect(op.error).toBeNull();
    expect(op.status).toBe("succeeded");
    const vmId = created.vm.id;
    const domainName = created.vm.domainName;

    expect((await api.vm.get({ id: vmId })).state).toBe("running");
    expect(virsh("domstate", domainName).trim()).toBe("running");
    // The user's text went into the domain's title escaped, intact.
    expect(virsh("desc", domainName, "--title").trim()).toBe(`life <&> "quoted" ]]>`);

    // Readiness comes from the guest itself: its banner on the serial console.
    await waitFor("guest banner on serial", async () => fs.existsSync(serialLogPath(domainName)) && fs.readFileSync(serialLogPath(domainName), "utf8").includes("vmdesk-demo-ready"), 60_000);
    await waitFor("guestReadyAt", async () => (await api.vm.get({ id: vmId })).guestReadyAt, 15_000);

    const down = await api.vm.shutdown({ id: vmId, timeoutS: 60 });
    expect((await settle(portal, tenant, down.operation.id)).status).toBe("succeeded");
    expect((await api.vm.get({ id: vmId })).state).toBe("stopped");
    expect(virsh("domstate", domainName).trim()).toBe("shut off");

    const up = await api.vm.start({ id: vmId });
    expect((await settle(portal, tenant, up.operation.id)).status).toBe("succeeded");
    expect((await api.vm.get({ id: vmId })).state).toBe("running");

    const diskPath = (await db().vm.findUniqueOrThrow({ where: { id: vmId } })) && `${(await db().host.findUniqueOrThrow({ where: { id: portal.hostId } })).poolPath}/${domainName}.qcow2`;
    expect(fs.existsSync(diskPath)).toBe(true);
    const del = await api.vm.delete({ id: vmId });
    expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
    await expect(api.vm.get({ id: vmId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(domainExists(domainName)).toBe(false);
    expect(fs.existsSync(diskPath)).toBe(false);
    const quota = await api.auth.quota();
    expect(quota.used).toEqual({ vms: 0, vcpus: 0, memoryMiB: 0, diskGiB: 0 });
  });
});

describe("VM from an ISO", () => {
  it("gets a blank disk plus the CD, boots from the CD and is deleted cleanly", async () => {
    const tenant = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
    const api = portal.caller(tenant);
    const created = await api.vm.create({ name: "from iso", imageId: portal.isoImageId, vcpus: 1, memoryMiB: 128, diskGiB: 2 });
    expect((await settle(portal, tenant, created.operation.id)).status).toBe("succeeded");
    const domainName = created.vm.domainName;
    const xml = virsh("dumpxml", domainName);
    expect(xml).toMatch(/<disk type='file' device='cdrom'>/);
    expect(xml).toContain("vmdesk-demo.iso");
    // The blank disk is a qcow2 of the requested size with no backing file.
    const disk = virsh("vol-dumpxml", "--pool", (await db().host.findUniqueOrThrow({ where: { id: portal.hostId } })).poolName, `${domainName}.qcow2`);
    expect(disk).toContain(`<capacity unit='bytes'>${2 * 1024 ** 3}</capacity>`);
    expect(disk).not.toContain("<backingStore>");
    await waitFor("ISO guest banner", async () => fs.existsSync(serialLogPath(domainName)) && fs.readFileSync(serialLogPath(domainName), "utf8").includes("vmdesk-demo-ready"), 60_000);
    const del = await api.vm.delete({ id: created.vm.id });
    expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
    expect(domainExists(domainName)).toBe(false);
  });
});
