/**
 * `npm run bench:classroom` — a teacher provisions a class of N students (1 vCPU, 96 MiB, 1 GiB
 * linked clones) to all-running through the real portal's REST API (preview → provision → poll the
 * class until every student's VM runs), versus the same N with the sequential raw-virsh baseline in
 * the same run. "Running" is libvirt's word: the guests may still be booting. What a student waits
 * for is a login prompt, so the run also times the first and the last guest that printed the demo
 * guest's ready marker on its serial console (`first_ready_s`, `ready_s`), and the same for the
 * baseline's guests (`baseline_first_ready_s`, `baseline_ready_s`; `ready_ratio` compares the last
 * prompts). Also reports the portal process's peak RSS. Prints one JSON line.
 */
import fs from "node:fs";
import { restClient, startPortalServer, type RunningPortal } from "../support/server.ts";
import { waitFor } from "../support/harness.ts";
import { BENCH_ADMIN_PASSWORD, PromptWatch, assertBenchPrepared, baselineRunWithPrompts, prepareBenchDatabase } from "./baseline.ts";
import { cpuSecondsBetween, readCpu, type CpuSeconds } from "./cpu-usage.ts";

assertBenchPrepared("classroom");
const N = Number(process.env.BENCH_N ?? 30);
const MEMORY_MIB = 96;
const TEACHER_PASSWORD = "bench-teacher-password";

interface ClassStudent {
  username: string;
  vmId: string | null;
  state: string | null;
  stateMessage: string | null;
}

/** Peak resident set (VmHWM) of a process, MiB; the kernel keeps the high-water mark for us. */
function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

async function expectStatus(what: string, res: Promise<{ status: number; body: any }>, status: number) {
  const r = await res;
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function portalRun(): Promise<{ seconds: number; firstReadyS: number; readyS: number; peakRssMb: number; cpuS: CpuSeconds }> {
  const { url, imageId } = await prepareBenchDatabase("vmdesk_bench_classroom", "cbench");
  let portal: RunningPortal | null = await startPortalServer(url, {
    VMDESK_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "error",
    // The portal as `npm run up` runs it (the test harness relists every second).
    VMDESK_RELIST_INTERVAL_MS: "5000",
  });
  const pid = portal.process.pid!;
  let teacher: ReturnType<typeof restClient> | null = null;
  let classId: string | null = null;
  const watch = { stopped: false };
  try {
    const anon = restClient(portal.baseUrl);
    const admin = restClient(portal.baseUrl, (await expectStatus("admin token", anon("POST", "/auth/token", { username: "admin", password: BENCH_ADMIN_PASSWORD }), 201)).token);
    const createdTeacher = await expectStatus("create teacher", admin("POST", "/users", { username: "bench-teacher", password: TEACHER_PASSWORD, role: "teacher" }), 201);
    await expectStatus("teaching quota", admin("PUT", `/users/${createdTeacher.id}/teaching-quota`, { vms: N, vcpus: N, memoryMiB: N * MEMORY_MIB, diskGiB: N }), 200);
    teacher = restClient(portal.baseUrl, (await expectStatus("teacher token", anon("POST", "/auth/token", { username: "bench-teacher", password: TEACHER_PASSWORD }), 201)).token);
    const api = teacher;
    classId = (
      await expectStatus(
        "create class",
        api("POST", "/classes", { name: "bench class", imageId, vcpus: 1, memoryMiB: MEMORY_MIB, diskGiB: 1, budget: { vms: N, vcpus: N, memoryMiB: N * MEMORY_MIB, diskGiB: N } }),
        201,
      )
    ).id as string;
    const roster = ["username,name", ...Array.from({ length: N }, (_, i) => `bench-s${String(i).padStart(3, "0")},Student ${i}`)].join("\n");
    await expectStatus("add students", api("POST", `/classes/${classId}/students`, { csv: roster }), 200);

    const cpuBefore = readCpu(pid);
    const t0 = performance.now();
    // Readiness is read from the guests' serial logs beside the class polling below.
    const prompts = new PromptWatch(t0);
    const readiness = (async () => {
      let vmIds: string[] = [];
      while (!watch.stopped) {
        // The class is read until every student has a VM id (set at provision), then only the logs.
        if (vmIds.length < N) {
          const students = ((await api("GET", `/classes/${classId}`).catch(() => null))?.body?.students ?? []) as ClassStudent[];
          vmIds = students.flatMap((s) => (s.vmId ? [s.vmId] : []));
        }
        if (prompts.check(vmIds.map((id) => `vmdesk-${id}`)) === N) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const preview = await expectStatus("preview", api("POST", `/classes/${classId}/preview`, {}), 200);
    if (!preview.fits || preview.vms !== N) throw new Error(`preview: ${JSON.stringify(preview)}`);
    await expectStatus("provision", api("POST", `/classes/${classId}/provision`, {}), 202);
    const final = await waitFor(
      "every student VM running (or failed)",
      async () => {
        const students = (await api("GET", `/classes/${classId}`)).body.students as ClassStudent[];
        return students.length === N && students.every((s) => s.state === "running" || s.state === "error") ? students : null;
      },
      600_000,
      // The teacher's page polls every 1.5 s; 250 ms keeps the reading within 1 % of the result
      // without the portal answering 20 class reads a second on the cores the guests boot on.
      250,
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpuS = cpuSecondsBetween(cpuBefore, readCpu(pid));
    const failed = final.filter((s) => s.state === "error");
    if (failed.length) throw new Error(`${failed.length} VM(s) failed: ${failed[0]?.username}: ${failed[0]?.stateMessage}`);
    await Promise.race([readiness, new Promise((r) => setTimeout(r, 600_000))]);
    watch.stopped = true;
    return { seconds, ...prompts.times(N, "portal"), peakRssMb: peakRssMiB(pid), cpuS };
  } finally {
    watch.stopped = true;
    if (teacher && classId) {
      const id = classId;
      const api = teacher;
      // Busy VMs are skipped by delete-all: repeat until none is left.
      await waitFor(
        "every class VM deleted",
        async () => {
          const students = (await api("GET", `/classes/${id}`)).body.students as ClassStudent[];
          if (students.every((s) => s.vmId === null)) return true;
          await api("POST", `/classes/${id}/delete-all`, {});
          return false;
        },
        300_000,
        1_000,
      ).catch((err: unknown) => console.error(String(err)));
    }
    await portal.stop();
    portal = null;
  }
}

const portal = await portalRun();
const baseline = await baselineRunWithPrompts(N, MEMORY_MIB, "cbench");
console.log(
  JSON.stringify({
    bench: "classroom",
    n: N,
    portal_s: +portal.seconds.toFixed(2),
    first_ready_s: +portal.firstReadyS.toFixed(2),
    ready_s: +portal.readyS.toFixed(2),
    baseline_s: +baseline.seconds.toFixed(2),
    ratio: +(portal.seconds / baseline.seconds).toFixed(2),
    baseline_first_ready_s: +baseline.firstReadyS.toFixed(2),
    baseline_ready_s: +baseline.readyS.toFixed(2),
    ready_ratio: +(portal.readyS / baseline.readyS).toFixed(2),
    peak_rss_mb: Math.round(portal.peakRssMb),
    // CPU-seconds by process group until all were running (the portal's) or the script ended (the
    // baseline's; its own virsh and qemu-img calls are not counted), against (cores × seconds).
    cpu_s: portal.cpuS,
    baseline_cpu_s: baseline.cpuS,
  }),
);
process.exit(0);
