/**
 * Exam submissions on the real demo guest: a marker written to each student's disk before the freeze
 * is seen inside a viewer booted from the submission (read through its serial console), the viewer
 * takes a view-only VNC console through the real proxy for its class's teacher only, the export is a
 * tar of one qcow2 per student holding the marker (downloaded through the REST route, whose gate
 * refuses strangers, missing credentials and a read-only token), and the submission survives a reset and a delete.
 * Viewers are discarded on Close and at their expiry (injected clock).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { handleRestRequest } from "../../../server/api/rest.ts";
import { PgConsoleStore } from "../../../server/console/pg-store.ts";
import { ConsoleProxy } from "../../../server/console/proxy.ts";
import { db } from "../../../server/db/client.ts";
import { VIEWER_TTL_MS, viewerVolumeName } from "../../../server/domain/submissions.ts";
import { snapshotNames } from "../../../server/jobs/submission-files.ts";
import { sweepViewers } from "../../../server/jobs/submissions.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import { issueTokenForCredentials, loadActiveUser, type AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { downloadSubmissionExport, exportDir } from "../../../server/services/submission-service.ts";
import { ensureAdmin } from "../../../server/services/user-service.ts";
import { runOnSerial } from "../../support/guest-serial.ts";
import { dataDir, domainExists, serviceAs, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";

const SECTOR = 1_048_576; // 512 MiB into the 1 GiB disk: far past the 64 MiB template
let portal: Portal;
let teacher: AuthenticatedUser;
let otherTeacher: AuthenticatedUser;
let server: http.Server;
let proxy: ConsoleProxy;
let store: PgConsoleStore;
let classId = "";
let teacherToken = "";
const work = fs.mkdtempSync(path.join(os.tmpdir(), "vmdesk-submissions-"));

async function makeTeacher(username: string): Promise<AuthenticatedUser> {
  await ensureAdmin(db(), username, "teacher-password-1");
  const t = await db().user.update({ where: { username }, data: { role: "teacher" } });
  await portal.caller(portal.admin).user.setTeachingQuota({ id: t.id, vms: 4, vcpus: 4, memoryMiB: 1024, diskGiB: 4 });
  return (await loadActiveUser(db(), t.id))!;
}

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_submissions");
  teacher = await makeTeacher("subteach");
  otherTeacher = await makeTeacher("subteach2");
  server = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  process.env.NEXTAUTH_URL = origin;
  store = PgConsoleStore.connect(process.env.DATABASE_URL!, 2);
  proxy = new ConsoleProxy({ store, hosts: portal.background!.hosts, portalOrigin: origin, clock: { now: () => new Date() }, limits: { idleTimeoutS: 600, maxSessionS: 3600, maxPerUser: 10, maxPerVm: 10, pingS: 15 } });
  proxy.start();
  server.on("upgrade", (req, socket, head) => {
    if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
  });
}, 120_000);

afterAll(async () => {
  await proxy?.drain(1000);
  await store?.close();
  await new Promise((r) => server?.close(r));
  if (classId) {
    const api = portal.caller(teacher);
    for (const v of await db().submissionViewer.findMany({ where: { classId, state: { in: ["creating", "running"] } }, select: { id: true } })) await api.submission.close({ viewerId: v.id }).catch(() => undefined);
    await api.class.deleteAll({ id: classId }).catch(() => undefined);
    await waitFor("class VMs and viewers gone", async () => (await db().vm.count({ where: { classId, deletedAt: null } })) === 0 && (await db().submissionViewer.count({ where: { classId, state: { in: ["creating", "running", "closing"] } } })) === 0, 120_000, 500).catch(() => undefined);
    for (const kept of await db().vmSubmission.findMany({ where: { classId } })) fs.rmSync(kept.path, { force: true });
    for (const e of await db().submissionExport.findMany({ where: { classId } })) fs.rmSync(exportDir(dataDir, e.id), { recursive: true, force: true });
  }
  fs.rmSync(work, { recursive: true, force: true });
  await portal?.close();
}, 240_000);

async function idleStudents(state: string, what: string) {
  return waitFor(what, async () => {
    const c = await portal.caller(teacher).class.get({ id: classId });
    return c.students.every((s) => s.state === state && s.operation === null) ? c : null;
  }, 180_000, 500);
}

/** The marker bytes at SECTOR of a qcow2 file: converted to a (sparse) raw file and read there. */
function markerIn(qcow2: string, length: number): string {
  const out = path.join(work, `read-${path.basename(qcow2)}.raw`);
  fs.rmSync(out, { force: true });
  execFileSync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", qcow2, out]);
  const fd = fs.openSync(out, "r");
  try {
    const buf = Buffer.alloc(length);
    fs.readSync(fd, buf, 0, length, SECTOR * 512);
    return buf.toString("latin1");
  } finally {
    fs.closeSync(fd);
    fs.rmSync(out, { force: true });
  }
}

/** Opens a viewer of `vmId`'s submission and waits until it runs and its guest has booted. */
async function bootedViewer(vmId: string) {
  const api = portal.caller(teacher);
  const opened = await api.submission.view({ id: classId, vmId });
  expect(opened.operationId).not.toBeNull();
  const op = await settle(portal, teacher, opened.operationId!, 180_000);
  expect(op, op.error ?? "").toMatchObject({ status: "succeeded" });
  const viewer = await db().submissionViewer.findUniqueOrThrow({ where: { id: opened.id } });
  expect(viewer.state).toBe("running");
  await waitFor("the viewer's guest booted", async () => fs.existsSync(serialLogPath(viewer.domainName)) && fs.readFileSync(serialLogPath(viewer.domainName), "utf8").includes("vmdesk-demo-ready"), 300_000);
  return viewer;
}

async function readMarkerThroughSerial(domainName: string): Promise<string> {
  return runOnSerial(domainName, `dd if=/dev/vda bs=512 skip=${SECTOR} count=1 2>/dev/null | head -c 11 | tr M m`, "READ-DONE", 60_000);
}

async function expectDiscarded(viewerId: string) {
  const v = await waitFor("viewer closed", async () => {
    const row = await db().submissionViewer.findUniqueOrThrow({ where: { id: viewerId } });
    return row.state === "closed" ? row : null;
  }, 60_000, 250);
  expect(domainExists(v.domainName)).toBe(false);
  const pool = (await db().host.findUniqueOrThrow({ where: { id: v.hostId } })).poolPath;
  expect(fs.existsSync(path.join(pool, viewerVolumeName(v.id)))).toBe(false);
}

describe("exam submissions", () => {
  it("are viewed read-only, exported, and kept through reset and delete", { timeout: 900_000 }, async () => {
    const api = portal.caller(teacher);
    ({ id: classId } = await api.class.create({ name: "Exam 1", imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1, budget: { vms: 2, vcpus: 2, memoryMiB: 256, diskGiB: 2 } }));
    const added = await api.class.addStudents({ id: classId, csv: "subst1\nsubst2" });
    await api.class.provision({ id: classId });
    const running = await idleStudents("running", "both student VMs running");
    const [s1, s2] = running.students;
    const vm1 = await db().vm.findUniqueOrThrow({ where: { id: s1!.vmId! } });
    const vm2 = await db().vm.findUniqueOrThrow({ where: { id: s2!.vmId! } });
    for (const vm of [vm1, vm2]) {
      await waitFor("student guest booted", async () => fs.existsSync(serialLogPath(vm.domainName)) && fs.readFileSync(serialLogPath(vm.domainName), "utf8").includes("vmdesk-demo-ready"), 300_000);
      const marker = vm.id === vm1.id ? "MARKER-sub1" : "MARKER-sub2";
      await runOnSerial(vm.domainName, `printf ${marker} | dd of=/dev/vda bs=512 seek=${SECTOR} conv=notrunc 2>/dev/null; sync`, "WRITE-DONE", 60_000);
    }

    // Not before a freeze.
    await expect(api.submission.view({ id: classId, vmId: vm1.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    await api.class.freeze({ id: classId });
    await idleStudents("stopped", "both VMs frozen");

    // Only the class's teachers: the student (owner of the VM) and another teacher do not even see it.
    const temp = added.created.find((c) => c.username === "subst1")!.temporaryPassword;
    await portal.caller((await loadActiveUser(db(), s1!.userId))!).user.changePassword({ currentPassword: temp, newPassword: `own-${temp}` });
    const student = (await loadActiveUser(db(), s1!.userId))!;
    await expect(portal.caller(student).submission.view({ id: classId, vmId: vm1.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(portal.caller(otherTeacher).submission.view({ id: classId, vmId: vm1.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(portal.caller(otherTeacher).submission.export({ id: classId })).rejects.toMatchObject({ code: "NOT_FOUND" });

    // View: a domain of its own, booted from the submission; the student's domain stays frozen.
    const viewer = await bootedViewer(vm1.id);
    expect(viewer.domainName).not.toBe(vm1.domainName);
    expect(virsh("domstate", vm1.domainName).trim()).toBe("shut off");
    expect(virsh("dominfo", viewer.domainName)).toMatch(/Max memory:\s+131072 KiB/);
    expect(virsh("domiflist", viewer.domainName)).toContain(virsh("domiflist", vm1.domainName).split("\n").find((l) => l.includes("network"))!.trim().split(/\s+/)[2]);
    expect(await readMarkerThroughSerial(viewer.domainName)).toContain("mARKER-sub1");

    // Its console: view-only, for its class's teachers only, through the real proxy.
    for (const who of [student, otherTeacher]) await expect(portal.caller(who).submission.console({ viewerId: viewer.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const ticket = await api.submission.console({ viewerId: viewer.id, kind: "vnc" });
    expect(ticket.mode).toBe("view");
    const greeting = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(ticket.url, ticket.protocols, { perMessageDeflate: false });
      ws.once("message", (data: Buffer) => {
        resolve(data.toString("latin1"));
        ws.close();
      });
      ws.once("unexpected-response", (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
      ws.once("error", reject);
    });
    expect(greeting).toMatch(/^RFB 003\.00\d/);
    const audit = await waitFor("console session audited", () => db().auditEvent.findFirst({ where: { action: "console.session", actorId: teacher.id }, orderBy: { at: "desc" } }), 10_000);
    expect(audit.detail).toMatchObject({ mode: "view" });

    // Close: domain and disk gone; the student's VM untouched.
    await api.submission.close({ viewerId: viewer.id });
    await expectDiscarded(viewer.id);
    expect(domainExists(vm1.domainName)).toBe(true);
    expect(virsh("snapshot-list", vm1.domainName, "--name")).toContain("submission");

    // Export: one qcow2 per student, named by username, the marker inside each.
    // Twenty requests at once (a double click, a script): one export, the same for all.
    const racing = await Promise.all(Array.from({ length: 20 }, () => api.submission.export({ id: classId })));
    expect(new Set(racing.map((r) => r.id)).size).toBe(1);
    expect(await db().submissionExport.count({ where: { classId } })).toBe(1);
    const requested = racing[0]!;
    const ready = await waitFor("export ready", async () => {
      const e = await api.submission.exportStatus({ id: classId, exportId: requested.id });
      return e.state === "ready" || e.state === "failed" ? e : null;
    }, 180_000, 500);
    expect(ready).toMatchObject({ state: "ready", skipped: [] });
    expect(ready.files.map((f) => f.file).sort()).toEqual(["subst1.qcow2", "subst2.qcow2"]);
    teacherToken = (await issueTokenForCredentials(db(), { username: "subteach", password: "teacher-password-1", name: "exports" }, "127.0.0.1")).token;
    await expectDownloadGate(requested.id);
    const extracted = await downloadTar(requested.id, "first");
    expect(fs.readdirSync(extracted).sort()).toEqual(["subst1.qcow2", "subst2.qcow2"]);
    expect(markerIn(path.join(extracted, "subst1.qcow2"), 11)).toBe("MARKER-sub1");
    expect(markerIn(path.join(extracted, "subst2.qcow2"), 11)).toBe("MARKER-sub2");
    expect(execFileSync("qemu-img", ["info", "--output=json", path.join(extracted, "subst1.qcow2")]).toString()).not.toContain("backing-filename");
    // Asking again while nothing changed (a loop, a script) gets the same ready export: every new one
    // copies every student's disk.
    expect((await api.submission.export({ id: classId })).id).toBe(requested.id);
    expect(await db().submissionExport.count({ where: { classId } })).toBe(1);

    // Reset destroys the disk: the submission is kept first, and a viewer still shows it.
    const reset = await api.class.resetAll({ id: classId, userIds: [s1!.userId] });
    expect(reset.queued).toHaveLength(1);
    const resetOp = await settle(portal, teacher, reset.queued[0]!.operationId, 120_000);
    expect(resetOp, resetOp.error ?? "").toMatchObject({ status: "succeeded" });
    // The fresh disk holds no snapshot (libvirt may still list the old one's metadata for the domain).
    const pool = (await db().host.findUniqueOrThrow({ where: { id: vm1.hostId } })).poolPath;
    expect(await snapshotNames(path.join(pool, `${vm1.domainName}.qcow2`))).toEqual([]);
    expect(await db().vmSubmission.findUnique({ where: { vmId: vm1.id } })).not.toBeNull();
    const again = await bootedViewer(vm1.id);
    expect(await readMarkerThroughSerial(again.domainName)).toContain("mARKER-sub1");

    // Expiry: the sweep (clock moved past the viewer's lifetime) discards it.
    expect(await sweepViewers(db(), { now: () => new Date(Date.now() + VIEWER_TTL_MS - 60_000) })).toBe(0);
    expect(await sweepViewers(db(), { now: () => new Date(Date.now() + VIEWER_TTL_MS + 1_000) })).toBe(1);
    await expectDiscarded(again.id);

    // Delete keeps every submission too: the export after it still has both.
    await api.class.deleteAll({ id: classId });
    await waitFor("VMs deleted", async () => (await db().vm.count({ where: { classId, deletedAt: null } })) === 0, 120_000, 500);
    expect(await db().vmSubmission.count({ where: { classId } })).toBe(2);
    const second = await api.submission.export({ id: classId });
    expect(second.id).not.toBe(requested.id);
    await waitFor("second export ready", async () => (await api.submission.exportStatus({ id: classId, exportId: second.id })).state === "ready", 180_000, 500);
    const afterDelete = await downloadTar(second.id, "second");
    expect(markerIn(path.join(afterDelete, "subst1.qcow2"), 11)).toBe("MARKER-sub1");
    expect(markerIn(path.join(afterDelete, "subst2.qcow2"), 11)).toBe("MARKER-sub2");
  });
});

/** The export download exactly as app/api/v1 serves it (the same REST handler), without Next. */
function exportDownload(exportId: string, opts: { token?: string; method?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  return handleRestRequest(new Request(`http://127.0.0.1/api/v1/classes/${classId}/submissions/exports/${exportId}/download`, { method: opts.method ?? "GET", headers }));
}

/**
 * The download route's gate (trpc.ts admitCaller, as for every procedure): no credentials 401,
 * another teacher 404 (not theirs), a read-only token 403 (submission.view is not a read: students'
 * exam disks are not for a monitoring token), a wrong method 405; HEAD
 * states the tar's size without a body.
 */
async function expectDownloadGate(exportId: string) {
  const status = async (res: Promise<Response>) => {
    const r = await res;
    await r.body?.cancel();
    return r.status;
  };
  const readOnly = (await issueTokenForCredentials(db(), { username: "subteach", password: "teacher-password-1", name: "read-only", scopes: ["read"] }, "127.0.0.1")).token;
  const stranger = (await issueTokenForCredentials(db(), { username: "subteach2", password: "teacher-password-1", name: "stranger", scopes: ["read"] }, "127.0.0.1")).token;
  expect({
    none: await status(exportDownload(exportId)),
    stranger: await status(exportDownload(exportId, { token: stranger })),
    readOnly: await status(exportDownload(exportId, { token: readOnly })),
    post: await status(exportDownload(exportId, { token: teacherToken, method: "POST" })),
    unknown: await status(exportDownload("00000000-0000-4000-8000-000000000000", { token: teacherToken })),
  }).toEqual({ none: 401, stranger: 404, readOnly: 403, post: 405, unknown: 404 });
  const head = await exportDownload(exportId, { token: teacherToken, method: "HEAD" });
  expect(head.status).toBe(200);
  expect(await head.arrayBuffer()).toHaveProperty("byteLength", 0);
  expect(Number(head.headers.get("content-length"))).toBe((await downloadSubmissionExport(serviceAs(teacher), classId, exportId)).size);
}

/** Streams the export's tar (through the REST route) to a file and unpacks it with tar(1); returns the directory of qcow2 files. */
async function downloadTar(exportId: string, name: string): Promise<string> {
  const res = await exportDownload(exportId, { token: teacherToken });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/x-tar");
  const tarPath = path.join(work, `${name}.tar`);
  await pipeline(Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>), fs.createWriteStream(tarPath));
  expect(fs.statSync(tarPath).size).toBe(Number(res.headers.get("content-length")));
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  execFileSync("tar", ["-xf", tarPath, "-C", dir]);
  return path.join(dir, "submissions");
}
