/**
 * Tenant snapshots on real libvirt with a real guest: take (with and without memory), change the
 * guest, revert, and the change is gone; quota, names and other tenants bounded.
 *
 * The demo guest's files live in its RAM (busybox initramfs), so a file proves a memory revert; its
 * disk is written raw, far past the boot files, so a sector proves a disk revert.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { bootedGuest, deleteQuietly, runOnSerial, type LocalGuest } from "../../support/guest-serial.ts";
import { settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

let portal: Portal;
let tenant: AuthenticatedUser;
let other: AuthenticatedUser;
let guest: LocalGuest | null = null;
let second: LocalGuest | null = null;

/** 512 MiB into the 1 GiB disk: beyond the 64 MiB boot file system. */
const SECTOR = 1024 * 1024;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_snapshots");
  tenant = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 2 });
  other = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  await db().quota.update({ where: { userId: tenant.id }, data: { maxSnapshots: 2 } });
});
afterAll(async () => {
  await deleteQuietly(portal, tenant, guest);
  await deleteQuietly(portal, tenant, second);
  await portal?.close();
});

/** Writes `marker` to the disk sector and `marker` into /root/state, and flushes the disk. */
async function mark(domainName: string, marker: string): Promise<void> {
  await runOnSerial(domainName, `echo ${marker} > /root/state; printf '${marker}' | dd of=/dev/vda bs=512 seek=${SECTOR} conv=notrunc 2>/dev/null; sync`, "mark-done", 30_000);
}

/** What the guest's RAM file and disk sector hold now. */
async function readMarks(domainName: string): Promise<{ file: string; disk: string }> {
  const out = await runOnSerial(domainName, `echo "file=$(cat /root/state 2>/dev/null) disk=$(dd if=/dev/vda bs=512 skip=${SECTOR} count=1 2>/dev/null | head -c 8)."`, "read-done", 30_000);
  const m = /file=(\S*) disk=([A-Za-z0-9]*)\./.exec(out.split("\n").filter((l) => l.startsWith("file=")).pop() ?? "");
  return { file: m?.[1] ?? "", disk: m?.[2] ?? "" };
}

async function run<T extends { operation: { id: string } }>(user: AuthenticatedUser, p: Promise<T>) {
  const res = await p;
  const op = await settle(portal, user, res.operation.id);
  expect(op.error).toBeNull();
  expect(op.status).toBe("succeeded");
  return res;
}

describe("tenant snapshots", () => {
  it("revert with memory brings back the guest's memory and disk; without memory the disk only, shut off", async () => {
    const api = portal.caller(tenant);
    guest = await bootedGuest(portal, tenant, "snap guest");
    await mark(guest.domainName, "before01");

    const taken = await run(tenant, api.snapshot.create({ id: guest.id, name: "s1" }));
    expect(taken.snapshot).toMatchObject({ name: "s1", memory: true, state: "creating" });
    expect((await api.snapshot.list({ id: guest.id })).map((s) => [s.name, s.state, s.memory])).toEqual([["s1", "ready", true]]);
    expect(virsh("snapshot-list", guest.domainName, "--name")).toContain("u-s1");
    expect((await api.auth.quota()).snapshots).toEqual({ limit: 2, used: 1 });

    await mark(guest.domainName, "after001");
    expect(await readMarks(guest.domainName)).toEqual({ file: "after001", disk: "after001" });
    await run(tenant, api.snapshot.revert({ id: guest.id, name: "s1" }));
    expect((await api.vm.get({ id: guest.id })).state).toBe("running");
    expect(await readMarks(guest.domainName)).toEqual({ file: "before01", disk: "before01" });

    // Without memory, taken while running: the revert leaves the VM off with the disk of that moment.
    await mark(guest.domainName, "nomem001");
    const nomem = await run(tenant, api.snapshot.create({ id: guest.id, name: "disk-only", memory: false }));
    expect(nomem.snapshot.memory).toBe(false);
    await mark(guest.domainName, "later001");
    await run(tenant, api.snapshot.revert({ id: guest.id, name: "disk-only" }));
    expect((await api.vm.get({ id: guest.id })).state).toBe("stopped");
    expect(virsh("domstate", guest.domainName).trim()).toBe("shut off");
    // A stopped VM has no memory to keep.
    await expect(api.snapshot.create({ id: guest.id, name: "s3", memory: true })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await run(tenant, api.vm.start({ id: guest.id }));
    const log = await waitFor("guest booted again", async () => (await readMarks(guest!.domainName)) ?? null, 120_000);
    expect(log.disk).toBe("nomem001");
    expect(log.file).toBe(""); // a fresh boot: the RAM file is gone
  }, 300_000);

  it("bounds names, the quota and other tenants", async () => {
    const api = portal.caller(tenant);
    const vm = guest!;
    // Quota 2, both used.
    await expect(api.snapshot.create({ id: vm.id, name: "s3" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("snapshots limit 2, in use 2") });
    await expect(api.snapshot.create({ id: vm.id, name: "s1" })).rejects.toMatchObject({ code: "CONFLICT" });
    for (const name of ["../etc", "a b", "", "-lead", "x".repeat(64), "naïve", "s1\n"]) {
      await expect(api.snapshot.create({ id: vm.id, name })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    }
    // Someone else's VM does not exist for them, whatever they try.
    const theirs = portal.caller(other);
    await expect(theirs.snapshot.list({ id: vm.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(theirs.snapshot.create({ id: vm.id, name: "mine" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(theirs.snapshot.revert({ id: vm.id, name: "s1" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(theirs.snapshot.delete({ id: vm.id, name: "s1" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(api.snapshot.revert({ id: vm.id, name: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });

    // Delete gives the quota back once the disk no longer holds it.
    await run(tenant, api.snapshot.delete({ id: vm.id, name: "s1" }));
    expect((await api.snapshot.list({ id: vm.id })).map((s) => s.name)).toEqual(["disk-only"]);
    expect(virsh("snapshot-list", vm.domainName, "--name")).not.toContain("u-s1");
    expect((await api.auth.quota()).snapshots).toEqual({ limit: 2, used: 1 });

    // One slot left, asked for on two VMs at once: the owner's quota row serialises them.
    const created = await api.vm.create({ name: "snap second", imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
    second = { id: created.vm.id, domainName: created.vm.domainName };
    await settle(portal, tenant, created.operation.id);
    await run(tenant, api.vm.poweroff({ id: second.id }));
    const results = await Promise.allSettled([
      api.snapshot.create({ id: vm.id, name: "race" }),
      api.snapshot.create({ id: second.id, name: "race" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: "CONFLICT", message: expect.stringContaining("snapshots limit 2") });
    const winner = (results.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ operation: { id: string } }>).value;
    expect((await settle(portal, tenant, winner.operation.id)).status).toBe("succeeded");
    expect((await api.auth.quota()).snapshots).toEqual({ limit: 2, used: 2 });

    // Deleting a VM deletes its snapshots with its disk, and their quota.
    const ownerOfRace = (await db().vmSnapshot.findFirstOrThrow({ where: { name: "race" } })).vmId;
    const del = await api.vm.delete({ id: ownerOfRace });
    expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
    if (ownerOfRace === second.id) second = null;
    else guest = null;
    expect((await api.auth.quota()).snapshots).toEqual({ limit: 2, used: ownerOfRace === vm.id ? 0 : 1 });
  }, 300_000);
});
