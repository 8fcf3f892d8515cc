/**
 * Flavors on real libvirt with real guests, each knob proven by its effect on this machine (TCG, 2
 * host CPUs, cgroup v1): vCPU and emulator pinning (virsh vcpupin/emulatorpin and the cpuset cgroup),
 * CPU shares/period/quota (virsh schedinfo and the cpu cgroup's files), disk iotune (virsh
 * blkdeviotune) read back from the live domain; interface bandwidth handed to tc by libvirt (this kernel
 * has no sch_sfq or act_police, so the start fails there and says so: proven on the way, not applied); two
 * dedicated VMs on distinct pCPUs and a third refused by placement with 409 and the reason; huge
 * pages: refused while the host has none free, then HugePages_Free drops by the guest's pages while it
 * runs. Tenants see flavors without their knobs. nr_hugepages and the host's reserved CPUs are restored.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../../../server/db/client.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { deleteQuietly, type LocalGuest } from "../../support/guest-serial.ts";
import { settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

const NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages";

let portal: Portal;
let tenant: AuthenticatedUser;
const guests: LocalGuest[] = [];
let hugepagesBefore: string | null = null;
let reservedBefore = 1;

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_flavors");
  tenant = await portal.newTenant({ vms: 4, vcpus: 4, memoryMiB: 1024, diskGiB: 4 });
  // Two host CPUs here: give both to dedicated VMs (pCPU 0 normally stays with the host) so two can be proven apart.
  reservedBefore = (await db().host.findUniqueOrThrow({ where: { id: portal.hostId } })).reservedCpus;
  await db().host.update({ where: { id: portal.hostId }, data: { reservedCpus: 0 } });
});
afterAll(async () => {
  for (const g of guests) await deleteQuietly(portal, tenant, g);
  if (hugepagesBefore !== null) fs.writeFileSync(NR_HUGEPAGES, hugepagesBefore);
  await db().host.update({ where: { id: portal.hostId }, data: { reservedCpus: reservedBefore } }).catch(() => undefined);
  await portal?.close();
});

async function createOk(flavorId: string, name: string): Promise<LocalGuest> {
  const created = await portal.caller(tenant).vm.create({ name, imageId: portal.imageId, flavorId });
  const guest = { id: created.vm.id, domainName: created.vm.domainName };
  guests.push(guest);
  const op = await settle(portal, tenant, created.operation.id);
  expect(op.error).toBeNull();
  expect(op.status).toBe("succeeded");
  return guest;
}

async function remove(guest: LocalGuest): Promise<void> {
  const del = await portal.caller(tenant).vm.delete({ id: guest.id });
  expect((await settle(portal, tenant, del.operation.id)).status).toBe("succeeded");
  guests.splice(guests.indexOf(guest), 1);
}

/** The domain's cgroup v1 directory under `controller` (libvirt's cgroupfs layout: machine/qemu-N-<name>.libvirt-qemu). */
function cgroupDir(controller: string, domainName: string): string {
  const base = `/sys/fs/cgroup/${controller}/machine`;
  const tail = domainName.slice(-12);
  const dir = fs.readdirSync(base).find((d) => d.includes(tail));
  if (!dir) throw new Error(`no cgroup for ${domainName} under ${base}`);
  return path.join(base, dir);
}

const read = (file: string) => fs.readFileSync(file, "utf8").trim();

/** `virsh vcpupin` rows: vCPU → pCPU list. */
function vcpupin(domainName: string): Record<string, string> {
  const rows = virsh("vcpupin", domainName).split("\n").map((l) => /^\s*(\d+)\s+(\S+)\s*$/.exec(l)).filter((m) => m !== null);
  return Object.fromEntries(rows.map((m) => [m[1]!, m[2]!]));
}

function keyValues(out: string): Record<string, string> {
  return Object.fromEntries(out.split("\n").map((l) => /^\s*([\w.]+)\s*:\s*(\S+)/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]));
}

function hugepagesFree(): number {
  return Number(/HugePages_Free:\s+(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))![1]);
}

describe("flavors", () => {
  let pinnedId = "";

  it("admins define flavors with knobs; tenants see name, description and size only", async () => {
    const admin = portal.caller(portal.admin);
    const pinned = await admin.flavor.create({
      name: "pinned",
      description: "one dedicated CPU, limited",
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      tuning: {
        dedicatedCpus: true, cpuShares: 512, cpuPeriodUs: 100_000, cpuQuotaUs: 50_000,
        diskTotalIops: 200, diskTotalBytesSec: 10_485_760,
      },
    });
    pinnedId = pinned.id;
    expect(pinned.tuning?.dedicatedCpus).toBe(true);
    await expect(admin.flavor.create({ name: "bad", vcpus: 1, memoryMiB: 128, diskGiB: 1, tuning: { cpuQuotaUs: 10 } })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(admin.flavor.create({ name: "bad", vcpus: 1, memoryMiB: 97, diskGiB: 1, tuning: { hugepagesKiB: 2048 } })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(portal.caller(tenant).flavor.create({ name: "mine", vcpus: 1, memoryMiB: 128, diskGiB: 1 })).rejects.toMatchObject({ code: "FORBIDDEN" });

    const seen = await portal.caller(tenant).flavor.list();
    expect(seen).toEqual([{ id: pinned.id, name: "pinned", description: "one dedicated CPU, limited", vcpus: 1, memoryMiB: 128, diskGiB: 1 }]);
  });

  it("dedicated CPUs: pinned vCPU and emulator, CFS limits in the cgroup, iotune on the live domain; two VMs on distinct pCPUs, a third refused", async () => {
    const first = await createOk(pinnedId, "pinned one");
    const log = serialLogPath(first.domainName);
    await waitFor("guest banner under a 50 % CPU quota", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 240_000);

    const pin1 = vcpupin(first.domainName)["0"];
    expect(pin1).toMatch(/^[01]$/);
    expect(virsh("emulatorpin", first.domainName)).toMatch(new RegExp(`\\*:\\s+${pin1}\\s*$`, "m"));
    // The definition has the flavor's weight, and so has the running guest (the portal's default
    // VMDESK_RUNNING_WEIGHT_DIVISOR=1 leaves a started guest's weight alone).
    const liveShares = "512";
    expect(keyValues(virsh("schedinfo", "--config", first.domainName))).toMatchObject({ cpu_shares: "512", vcpu_period: "100000", vcpu_quota: "50000" });
    expect(keyValues(virsh("schedinfo", first.domainName))).toMatchObject({ cpu_shares: liveShares, vcpu_period: "100000", vcpu_quota: "50000" });
    // The kernel's own view (cgroup v1): shares on the domain, quota/period and cpuset on vCPU 0's thread group.
    expect(read(path.join(cgroupDir("cpu", first.domainName), "cpu.shares"))).toBe(liveShares);
    expect(read(path.join(cgroupDir("cpu", first.domainName), "vcpu0", "cpu.cfs_quota_us"))).toBe("50000");
    expect(read(path.join(cgroupDir("cpu", first.domainName), "vcpu0", "cpu.cfs_period_us"))).toBe("100000");
    expect(read(path.join(cgroupDir("cpuset", first.domainName), "vcpu0", "cpuset.cpus"))).toBe(pin1);

    expect(keyValues(virsh("blkdeviotune", first.domainName, "vda"))).toMatchObject({ total_iops_sec: "200", total_bytes_sec: "10485760" });

    const second = await createOk(pinnedId, "pinned two");
    const pin2 = vcpupin(second.domainName)["0"];
    expect(pin2).toMatch(/^[01]$/);
    expect(pin2).not.toBe(pin1);
    const rows = await db().cpuAllocation.findMany({ where: { hostId: portal.hostId }, orderBy: { pcpu: "asc" } });
    expect(rows.map((r) => r.pcpu)).toEqual([0, 1]);

    await expect(portal.caller(tenant).vm.create({ name: "pinned three", imageId: portal.imageId, flavorId: pinnedId })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringMatching(/dedicated pCPUs 0 free \(needs 1\)/),
    });

    // Deleting a VM gives its pCPU back; the next dedicated VM gets it.
    await remove(second);
    expect((await db().cpuAllocation.findMany({ where: { hostId: portal.hostId } })).map((r) => r.pcpu)).toEqual([Number(pin1)]);
    await remove(first);
    expect(await db().cpuAllocation.count({ where: { hostId: portal.hostId } })).toBe(0);
  }, 480_000);

  it("bandwidth reaches the host's traffic control (which this kernel cannot apply: no sch_sfq, no act_police)", async () => {
    const limited = await portal.caller(portal.admin).flavor.create({ name: "limited", vcpus: 1, memoryMiB: 96, diskGiB: 1, tuning: { netOutAverageKiBs: 500, netOutPeakKiBs: 1000, netOutBurstKiB: 256 } });
    const created = await portal.caller(tenant).vm.create({ name: "limited", imageId: portal.imageId, flavorId: limited.id });
    const guest = { id: created.vm.id, domainName: created.vm.domainName };
    guests.push(guest);
    const op = await settle(portal, tenant, created.operation.id);
    // libvirt ran tc with the flavor's numbers: a police filter at 500 KiB/s with a 256 KiB burst on the guest's tap.
    expect(op.status).toBe("failed");
    expect(op.error).toMatch(/tc filter add dev vnet\d+ parent ffff: .*police rate 500kbps burst 256kb/);
    await remove(guest);
  }, 120_000);

  it("huge pages: refused while the host has none free; then HugePages_Free drops by the guest's pages while it runs", async () => {
    const admin = portal.caller(portal.admin);
    const huge = await admin.flavor.create({ name: "huge", vcpus: 1, memoryMiB: 96, diskGiB: 1, tuning: { hugepagesKiB: 2048, numaNodes: 1, numaMode: "strict", numaNodeset: "0" } });
    await expect(portal.caller(tenant).vm.create({ name: "no pages", imageId: portal.imageId, flavorId: huge.id })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringMatching(/huge pages of 2048 KiB/),
    });

    hugepagesBefore = read(NR_HUGEPAGES);
    const reserve = Number(hugepagesBefore) + 56;
    fs.writeFileSync(NR_HUGEPAGES, String(reserve));
    expect(Number(read(NR_HUGEPAGES))).toBe(reserve);
    // The host monitor reads the pages with the host's facts (every 30 s).
    await waitFor("the monitor to see the huge pages", async () => {
      const pages = (await db().host.findUniqueOrThrow({ where: { id: portal.hostId } })).hugepages as Array<{ sizeKiB: number; free: number }>;
      return pages.some((p) => p.sizeKiB === 2048 && p.free >= 48);
    }, 75_000, 1000);

    const freeBefore = hugepagesFree();
    const guest = await createOk(huge.id, "on huge pages");
    const xml = virsh("dumpxml", guest.domainName);
    expect(xml).toMatch(/<page size='2048' unit='KiB'\/>/);
    expect(xml).toMatch(/<memory mode='strict' nodeset='0'\/>/);
    expect(xml).toMatch(/<cell id='0' cpus='0' memory='98304' unit='KiB'\/>/);
    const log = serialLogPath(guest.domainName);
    await waitFor("guest banner on huge pages", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 240_000);
    // 96 MiB of 2 MiB pages.
    expect(freeBefore - hugepagesFree()).toBe(48);
    await remove(guest);
    await waitFor("pages back", async () => hugepagesFree() === freeBefore, 15_000);

    fs.writeFileSync(NR_HUGEPAGES, hugepagesBefore);
    hugepagesBefore = null;
  }, 480_000);
});
