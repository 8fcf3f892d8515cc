/**
 * Placement on a real fleet: three lab hosts (separate libvirt daemons reached over qemu+tls,
 * scripts/lab) beside the local host, which is disabled here. The lab image lies on the lab's shared
 * storage, so every lab host reaches it. A class of 9 spreads 3/3/3 (preview and reality agree); a
 * personal VM that fits nowhere is refused with every host's reason; only an admin may pin a host.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { ensureAdmin } from "../../../server/services/user-service.ts";
import { loadActiveUser, type AuthenticatedUser } from "../../../server/services/auth-service.ts";
import type { LabHost, LabPaths } from "../../../scripts/lab/lab-hosts.ts";
import { demoImageDir, waitFor, type Portal } from "../../support/harness.ts";
import { startLabFleet, stopLabFleet } from "../../support/lab-fleet.ts";

const N = 9;
let portal: Portal;
let paths: LabPaths;
let lab: LabHost[] = [];
let teacher: AuthenticatedUser;
let imageId = "";

function labDomains(host: LabHost): string[] {
  return execFileSync("virsh", ["-c", host.uri, "list", "--all", "--name"], { encoding: "utf8", timeout: 15_000 })
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("vmdesk-"));
}

const sha256Of = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

beforeAll(async () => {
  ({ portal, paths, lab, imageId } = await startLabFleet("vmdesk_it_fleet", 3));
  await ensureAdmin(db(), "fleetteach", "teacher-password-1");
  const t = await db().user.update({ where: { username: "fleetteach" }, data: { role: "teacher" } });
  await portal.caller(portal.admin).user.setTeachingQuota({ id: t.id, vms: 20, vcpus: 20, memoryMiB: 4096, diskGiB: 20 });
  teacher = (await loadActiveUser(db(), t.id))!;
}, 180_000);

afterAll(async () => {
  await stopLabFleet({ portal, paths });
}, 120_000);

describe("placement across lab hosts", () => {
  it("GET /hosts shows each host's fleet state, capacity and allocation", async () => {
    const hosts = await portal.caller(portal.admin).host.list();
    expect(hosts.map((h) => [h.name, h.state])).toEqual([
      ["lab1", "up"],
      ["lab2", "up"],
      ["lab3", "up"],
      ["local", "disabled"],
    ]);
    const lab1 = hosts[0]!;
    expect(lab1).toMatchObject({ connection: "connected", cpuRatio: 16, memoryRatio: 1, allocated: { vms: 0, vcpus: 0, memoryMiB: 0 } });
    expect(lab1.capacity.vcpus).toBe(lab1.cpus! * 16);
  });

  it("a class of 9 spreads 3/3/3, as its preview says", { timeout: 420_000 }, async () => {
    const api = portal.caller(teacher);
    const { id } = await api.class.create({ name: "Fleet 101", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, budget: { vms: N, vcpus: N, memoryMiB: N * 96, diskGiB: N } });
    await api.class.addStudents({ id, csv: Array.from({ length: N }, (_, i) => `fleet${i}`).join("\n") });

    const preview = await api.class.preview({ id });
    expect(preview).toMatchObject({ fits: true, vms: N, reasons: [] });
    expect(preview.hosts).toEqual(["lab1", "lab2", "lab3"].map((name) => ({ name, vms: 3, vcpus: 3, memoryMiB: 288, diskGiB: 3 })));
    expect(preview.placements).toHaveLength(N);
    expect(preview.refusals).toEqual([{ host: "local", reason: 'host "local" is disabled' }]);

    expect((await api.class.provision({ id })).vms).toBe(N);
    const settled = await waitFor("all 9 class VMs running (or a create failed)", async () => {
      const failed = await db().operation.findFirst({ where: { kind: "create", status: "failed", vm: { classId: id } }, select: { error: true } });
      if (failed) return { failed: failed.error, running: null };
      const c = await api.class.get({ id });
      return c.students.every((s) => s.state === "running" && s.operation === null) ? { failed: null, running: c } : null;
    }, 300_000, 1000);
    expect(settled.failed).toBeNull();
    const running = settled.running!;
    const placed = new Map(preview.placements.map((p) => [p.student, p.host]));
    const rows = await db().vm.findMany({ where: { classId: id, deletedAt: null }, select: { domainName: true, owner: { select: { username: true } }, host: { select: { name: true } } } });
    for (const r of rows) expect(r.host.name).toBe(placed.get(r.owner.username));
    for (const host of lab) {
      const onHost = rows.filter((r) => r.host.name === host.name).map((r) => r.domainName).sort();
      expect(onHost).toHaveLength(3);
      expect(labDomains(host).sort()).toEqual(onHost);
    }
    const hosts = await portal.caller(portal.admin).host.list();
    expect(hosts.filter((h) => h.name.startsWith("lab")).map((h) => h.allocated)).toEqual(lab.map(() => ({ vms: 3, vcpus: 3, memoryMiB: 288, pendingDiskGiB: 0 })));

    expect((await api.class.deleteAll({ id })).queued).toHaveLength(N);
    await waitFor("all class VMs deleted", async () => (await api.class.get({ id })).students.every((s) => s.vmId === null), 180_000, 1000);
    for (const host of lab) expect(labDomains(host)).toEqual([]);
    expect(running.students).toHaveLength(N);
  });

  it("a personal VM that fits nowhere is refused (409) with every host's reason", async () => {
    const tenant = await portal.newTenant({ vms: 2, vcpus: 4, memoryMiB: 1_048_576, diskGiB: 10 });
    const err = await portal
      .caller(tenant)
      .vm.create({ name: "too-big", imageId, vcpus: 1, memoryMiB: 1_000_000, diskGiB: 1 })
      .then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).toBe("CONFLICT");
    expect(err?.message).toMatch(/^no host can take this VM: 4 hosts refused/);
    for (const name of ["lab1", "lab2", "lab3"]) expect(err?.message).toMatch(new RegExp(`host "${name}": memory \\d+ MiB free of \\d+ MiB × 1\\.0 \\(needs 1000000 MiB\\)`));
    expect(err?.message).toContain('host "local" is disabled');
    expect(await db().vm.count({ where: { ownerId: tenant.id } })).toBe(0);
    expect((await db().quota.findUniqueOrThrow({ where: { userId: tenant.id } })).usedVms).toBe(0);
  });

  it("an admin may pin a host; a tenant may not", async () => {
    const hosts = await portal.caller(portal.admin).host.list();
    const lab3 = hosts.find((h) => h.name === "lab3")!;
    const tenant = await portal.newTenant({ vms: 2, vcpus: 4, memoryMiB: 1024, diskGiB: 10 });
    await expect(portal.caller(tenant).vm.create({ name: "pinned", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, hostId: lab3.id })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const pinned = await portal.caller(portal.admin).vm.create({ name: "pinned", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, hostId: lab3.id });
    expect(pinned.vm.host.name).toBe("lab3");
    const local = hosts.find((h) => h.name === "local")!;
    await expect(portal.caller(portal.admin).vm.create({ name: "pinned-local", imageId, vcpus: 1, memoryMiB: 96, diskGiB: 1, hostId: local.id })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining('the pinned host cannot take this VM: host "local" is disabled'),
    });
    const created = await waitFor("the pinned VM created", async () => {
      const vm = await db().vm.findUniqueOrThrow({ where: { id: pinned.vm.id } });
      return vm.activeOperationId === null ? vm : null;
    }, 120_000, 500);
    expect(created.state).toBe("running");
    expect(labDomains(lab[2]!)).toEqual([`vmdesk-${pinned.vm.id}`]);
    await portal.caller(portal.admin).vm.delete({ id: pinned.vm.id });
    await waitFor("the pinned VM deleted", async () => ((await db().vm.findUniqueOrThrow({ where: { id: pinned.vm.id } })).deletedAt !== null ? true : null), 120_000, 500);
  });

  it("the first use of an image on a host copies it there once under 10 concurrent creates, verified by checksum", { timeout: 420_000 }, async () => {
    // An image that lives only on lab1, in a directory outside every storage pool.
    const srcDir = path.join(lab[0]!.dir, "lib", "vmdesk-src");
    mkdirSync(srcDir, { recursive: true });
    copyFileSync(path.join(demoImageDir, "vmdesk-demo.qcow2"), path.join(srcDir, "lab1-only.qcow2"));
    const sourceSha = sha256Of(path.join(srcDir, "lab1-only.qcow2"));
    const hosts = await portal.caller(portal.admin).host.list();
    const [lab1, lab2] = [hosts.find((h) => h.name === "lab1")!, hosts.find((h) => h.name === "lab2")!];
    const image = await db().image.create({ data: { name: "lab1 only", path: "/var/lib/libvirt/vmdesk-src/lab1-only.qcow2", format: "qcow2", minDiskGiB: 1, shared: false, hostId: lab1.id } });
    const room = { maxVms: 100, maxVcpus: 100, maxMemoryMiB: 100_000, maxDiskGiB: 100 };
    await db().quota.upsert({ where: { userId: portal.admin.id }, create: { userId: portal.admin.id, ...room }, update: room });

    // Placement offers lab2 although the image is not there yet (it can be copied from lab1).
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, i) => portal.caller(portal.admin).vm.create({ name: `copy-${i}`, imageId: image.id, vcpus: 1, memoryMiB: 80, diskGiB: 1, hostId: lab2.id })),
    );
    const ids = created.map((c) => c.vm.id);
    const settled = await waitFor("the 10 VMs created (or a create failed)", async () => {
      const failed = await db().operation.findFirst({ where: { kind: "create", status: "failed", vmId: { in: ids } }, select: { error: true } });
      if (failed) return { failed: failed.error };
      const busy = await db().vm.count({ where: { id: { in: ids }, OR: [{ activeOperationId: { not: null } }, { state: { not: "running" } }] } });
      return busy === 0 ? { failed: null } : null;
    }, 300_000, 1000);
    expect(settled.failed).toBeNull();

    const replicas = await db().imageReplica.findMany({ where: { imageId: image.id }, include: { host: { select: { name: true } } } });
    const replicaPath = `/var/lib/libvirt/vmdesk-pool/vmdesk-image-${image.id}.qcow2`;
    expect(replicas.map((r) => ({ host: r.host.name, state: r.state, attempts: r.attempts, path: r.path, bytes: Number(r.bytesDone) }))).toEqual([
      { host: "lab2", state: "ready", attempts: 1, path: replicaPath, bytes: statSync(path.join(srcDir, "lab1-only.qcow2")).size },
    ]);
    expect((await db().image.findUniqueOrThrow({ where: { id: image.id } })).sha256).toBe(sourceSha);
    const lab2Pool = path.join(lab[1]!.dir, "lib", "vmdesk-pool");
    expect(readdirSync(lab2Pool).filter((f) => f.startsWith("vmdesk-image-"))).toEqual([`vmdesk-image-${image.id}.qcow2`]);
    expect(sha256Of(path.join(lab2Pool, `vmdesk-image-${image.id}.qcow2`))).toBe(sourceSha);
    // Every VM's disk is a linked clone of that one copy.
    for (const id of ids) {
      const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", "-U", path.join(lab2Pool, `vmdesk-${id}.qcow2`)], { encoding: "utf8" })) as { "backing-filename"?: string };
      expect(info["backing-filename"]).toBe(replicaPath);
    }
    expect(labDomains(lab[1]!).sort()).toEqual(ids.map((id) => `vmdesk-${id}`).sort());

    for (const id of ids) await portal.caller(portal.admin).vm.delete({ id });
    await waitFor("the 10 VMs deleted", async () => ((await db().vm.count({ where: { id: { in: ids }, deletedAt: null } })) === 0 ? true : null), 180_000, 1000);
    expect(labDomains(lab[1]!)).toEqual([]);
  });
});
