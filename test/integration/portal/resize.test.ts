/**
 * Resize on real libvirt with a real guest: live (a hot-plugged vCPU, the balloon, a bigger disk, all
 * seen from inside the guest), offline (the definition rewritten, seen after a boot), what needs a stop
 * refused with 412, a disk shrink with 400, two resizes racing for the last quota unit, and growth
 * within quota refused (409) when the VM's host has no room for it.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import { setQuota } from "../../../server/services/user-service.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { deleteQuietly, runOnSerial, type LocalGuest } from "../../support/guest-serial.ts";
import { serviceAs, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

let portal: Portal;
let tenant: AuthenticatedUser;
let vm: LocalGuest | null = null;
let second: LocalGuest | null = null;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_resize");
  tenant = await portal.newTenant({ vms: 2, vcpus: 4, memoryMiB: 512, diskGiB: 4 });
});
afterAll(async () => {
  await deleteQuietly(portal, tenant, vm);
  await deleteQuietly(portal, tenant, second);
  await portal?.close();
});

/** What the guest sees: present and online CPUs, MemTotal (KiB), vda's size (512-byte sectors). */
async function guestView(domainName: string) {
  const out = await runOnSerial(
    domainName,
    `echo "view present=$(cat /sys/devices/system/cpu/present) cpus=$(grep -c ^processor /proc/cpuinfo) mem=$(awk '/MemTotal/{print $2}' /proc/meminfo) disk=$(cat /sys/block/vda/size)."`,
    "view-done",
    30_000,
  );
  const line = out.split(/\r?\n/).filter((l) => l.startsWith("view present=")).pop() ?? "";
  const m = /present=(\S+) cpus=(\d+) mem=(\d+) disk=(\d+)\./.exec(line);
  if (!m) throw new Error(`no guest view in: ${line}`);
  return { present: m[1]!, cpus: Number(m[2]), memKiB: Number(m[3]), diskSectors: Number(m[4]) };
}

async function ok<T extends { operation: { id: string } }>(p: Promise<T>): Promise<T> {
  const res = await p;
  const op = await settle(portal, tenant, res.operation.id);
  expect(op.error).toBeNull();
  expect(op.status).toBe("succeeded");
  return res;
}

describe("resize", () => {
  it("live: more vCPUs by hot-plug, memory through the balloon, a bigger disk — seen inside the guest", async () => {
    const api = portal.caller(tenant);
    const created = await ok(api.vm.create({ name: "resize me", imageId: portal.imageId, vcpus: 1, maxVcpus: 2, memoryMiB: 128, maxMemoryMiB: 256, diskGiB: 1 }));
    vm = { id: created.vm.id, domainName: created.vm.domainName };
    const log = serialLogPath(vm.domainName);
    await waitFor("guest ready", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 120_000);
    expect(virsh("vcpucount", vm.domainName, "--maximum", "--config").trim()).toBe("2");
    const before = await waitFor("the balloon at 128 MiB", async () => {
      const v = await guestView(vm!.domainName);
      return v.memKiB < 160 * 1024 ? v : null;
    }, 60_000, 1000);
    expect(before).toMatchObject({ present: "0", cpus: 1, diskSectors: 2 * 1024 * 1024 });

    const res = await ok(api.vm.resize({ id: vm.id, vcpus: 2, memoryMiB: 192, diskGiB: 2 }));
    expect(res.vm).toMatchObject({ vcpus: 2, memoryMiB: 192, diskGiB: 2 });
    expect((await api.vm.get({ id: vm.id })).state).toBe("running");
    const after = await waitFor("the guest sees its new size", async () => {
      const v = await guestView(vm!.domainName);
      return v.present === "0-1" && v.memKiB > before.memKiB + 48 * 1024 && v.diskSectors === 4 * 1024 * 1024 ? v : null;
    }, 60_000, 1000);
    expect(after.memKiB - before.memKiB).toBeGreaterThan(56 * 1024);
    expect(after.memKiB - before.memKiB).toBeLessThan(72 * 1024);
    // The definition holds the new size too (it survives a cold boot).
    expect(virsh("vcpucount", vm.domainName, "--current", "--config").trim()).toBe("2");
    expect((await api.auth.quota()).used).toEqual({ vms: 1, vcpus: 2, memoryMiB: 192, diskGiB: 2 });

    // What a running guest cannot take: 412 with the reason; a disk shrink: 400.
    await expect(api.vm.resize({ id: vm.id, vcpus: 3 })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringContaining("at most 2 vCPUs") });
    await expect(api.vm.resize({ id: vm.id, vcpus: 1 })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringContaining("fewer vCPUs") });
    await expect(api.vm.resize({ id: vm.id, memoryMiB: 300 })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringContaining("at most 256 MiB") });
    await expect(api.vm.resize({ id: vm.id, diskGiB: 1 })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("disks only grow") });
    await expect(api.vm.resize({ id: vm.id, memoryMiB: 600 })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    expect((await api.auth.quota()).used).toEqual({ vms: 1, vcpus: 2, memoryMiB: 192, diskGiB: 2 });
  }, 300_000);

  it("offline: stopped, the VM takes a new size within quota, seen after a boot; two resizes race for the last vCPU", async () => {
    const api = portal.caller(tenant);
    const id = vm!.id;
    await ok(api.vm.poweroff({ id }));
    // Over quota (4 vCPUs): 409 naming the limit, nothing changed.
    await expect(api.vm.resize({ id, vcpus: 5 })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("vCPUs limit 4") });
    await ok(api.vm.resize({ id, vcpus: 3, memoryMiB: 160 }));
    expect(virsh("vcpucount", vm!.domainName, "--current", "--config").trim()).toBe("3");
    await ok(api.vm.start({ id }));
    const log = serialLogPath(vm!.domainName);
    await waitFor("guest ready again", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 120_000);
    expect(await guestView(vm!.domainName)).toMatchObject({ cpus: 3, diskSectors: 4 * 1024 * 1024 });
    expect((await api.auth.quota()).used).toEqual({ vms: 1, vcpus: 3, memoryMiB: 160, diskGiB: 2 });

    // A second, stopped VM; one vCPU left in the quota (3 + 1 of 5); both ask for one more at once.
    await setQuota(serviceAs(portal.admin), tenant.id, { vms: 2, vcpus: 5, memoryMiB: 512, diskGiB: 4 });
    const created = await ok(api.vm.create({ name: "resize second", imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1 }));
    second = { id: created.vm.id, domainName: created.vm.domainName };
    await ok(api.vm.poweroff({ id: second.id }));
    await ok(api.vm.poweroff({ id }));
    const results = await Promise.allSettled([api.vm.resize({ id, vcpus: 4 }), api.vm.resize({ id: second.id, vcpus: 2 })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toMatchObject({ code: "CONFLICT", message: expect.stringContaining("vCPUs limit 5") });
    const won = (results.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ operation: { id: string } }>).value;
    expect((await settle(portal, tenant, won.operation.id)).status).toBe("succeeded");
    expect((await api.auth.quota()).used.vcpus).toBe(5);

    // Within quota but not within the host: growth is checked against the host's capacity too (a
    // tenant with a large quota must not overcommit a full host). The admin's memory ratio leaves
    // 32 MiB above what the two VMs hold.
    const hostRow = await db().host.findUniqueOrThrow({ where: { id: portal.hostId } });
    const held = (await db().vm.aggregate({ where: { hostId: portal.hostId, deletedAt: null }, _sum: { memoryMiB: true } }))._sum.memoryMiB!;
    await db().host.update({ where: { id: portal.hostId }, data: { memoryRatio: (held + 32) / (hostRow.memoryMiB! - hostRow.reservedMemoryMiB) } });
    try {
      await expect(api.vm.resize({ id: second.id, memoryMiB: 192 })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/host has no room for this size: .*memory .*needs 64 MiB/) });
      expect(await db().vm.findUniqueOrThrow({ where: { id: second.id } })).toMatchObject({ memoryMiB: 128, activeOperationId: null });
      expect((await api.auth.quota()).used.memoryMiB).toBe(held);
    } finally {
      await db().host.update({ where: { id: portal.hostId }, data: { memoryRatio: hostRow.memoryRatio } });
    }
  }, 300_000);
});
