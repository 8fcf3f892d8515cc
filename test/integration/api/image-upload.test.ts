/**
 * Image uploads over real HTTP against the real portal process: one-request and resumable uploads
 * streamed to disk, qemu-img validation (a qcow2 backed by /etc/shadow is refused), quotas, tenancy,
 * and an uploaded ISO booting a real guest.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disconnectDb } from "../../../server/db/client.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import { dataDir, demoImageDir, domainExists, seedDatabase, waitFor } from "../../support/harness.ts";
import { restClient, startPortalServer, type RunningPortal } from "../../support/server.ts";

const MIB = 1024 ** 2;
/** Unfinished uploads a tenant may hold at once (VMDESK_UPLOAD_MAX_OPEN_PER_USER, small here). */
const MAX_OPEN = 3;
const imageDir = path.join(dataDir, "it-upload-images");
const uploadsDir = path.join(imageDir, "uploads");
const work = path.join(dataDir, "it-upload-files");

let portal: RunningPortal;
let adminToken: string;
const tokens: Record<"alice" | "bob", string> = { alice: "", bob: "" };
const ids: Record<"alice" | "bob", string> = { alice: "", bob: "" };

const sha256 = (buf: Buffer) => createHash("sha256").update(buf).digest("hex");
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
/** Files kept in the uploads directory (finished images), partial files aside. */
const storedFiles = () => (fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir).filter((f) => f !== ".partial") : []);
const partialFiles = () => (fs.existsSync(path.join(uploadsDir, ".partial")) ? fs.readdirSync(path.join(uploadsDir, ".partial")) : []);

/** PUT /images/upload with the whole body (fetch sends its Content-Length). */
async function uploadWhole(token: string, name: string, format: string, body: Buffer) {
  const res = await fetch(`${portal.baseUrl}/api/v1/images/upload?name=${encodeURIComponent(name)}&format=${format}`, { method: "PUT", headers: auth(token), body: new Uint8Array(body) });
  return { status: res.status, body: await res.json() };
}

/** A raw request: `chunks` written one by one (no Content-Length unless given: chunked), or only headers. */
function rawRequest(method: string, urlPath: string, headers: Record<string, string>, chunks: Buffer[] = []) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    let answered = false;
    const req = http.request(`${portal.baseUrl}${urlPath}`, { method, headers }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", (err) => (answered ? undefined : reject(err)));
    if (chunks.length === 0 && headers["content-length"] && headers["content-length"] !== "0") {
      req.flushHeaders();
      return;
    }
    for (const c of chunks) req.write(c);
    req.end();
  });
}

beforeAll(async () => {
  fs.rmSync(imageDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(imageDir, { recursive: true, mode: 0o755 });
  fs.mkdirSync(work, { recursive: true });
  const { url } = await seedDatabase("vmdesk_it_upload");
  await disconnectDb();
  portal = await startPortalServer(url, { VMDESK_IMAGE_DIRS: imageDir, VMDESK_UPLOAD_MAX_GIB: "1", VMDESK_UPLOAD_MAX_OPEN_PER_USER: String(MAX_OPEN) });
  const anon = restClient(portal.baseUrl);
  adminToken = (await anon("POST", "/auth/token", { username: "admin", password: "admin-password-1" })).body.token;
  const admin = restClient(portal.baseUrl, adminToken);
  for (const username of ["alice", "bob"] as const) {
    const created = await admin("POST", "/users", { username, password: "tenant-password-1", role: "tenant" });
    expect(created.status).toBe(201);
    ids[username] = created.body.id;
    tokens[username] = (await anon("POST", "/auth/token", { username, password: "tenant-password-1" })).body.token;
  }
  expect((await admin("PUT", `/users/${ids.alice}/images-quota`, { imagesGiB: 1 })).status).toBe(200);
  expect((await admin("PUT", `/users/${ids.alice}/quota`, { vms: 1, vcpus: 1, memoryMiB: 128, diskGiB: 2 })).status).toBe(200);
  expect((await restClient(portal.baseUrl, tokens.bob)("PUT", `/users/${ids.bob}/images-quota`, { imagesGiB: 5 })).status).toBe(403);
}, 180_000);

afterAll(async () => {
  await portal?.stop();
  await disconnectDb();
  fs.rmSync(work, { recursive: true, force: true });
});

function qcow2(name: string, ...opts: string[]): Buffer {
  const file = path.join(work, name);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", ...opts, file, ...(opts.includes("-b") ? [] : ["32M"])]);
  return fs.readFileSync(file);
}

describe("image uploads", () => {
  let aliceImageId = "";

  it("takes a qcow2 in one request (curl -T): 201 with its sha256, private to the uploader", async () => {
    const file = qcow2("small.qcow2");
    const res = await uploadWhole(tokens.alice, "alice disk", "qcow2", file);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "alice disk", format: "qcow2", sha256: sha256(file), sizeBytes: file.length, ownerId: ids.alice, public: false, path: null, minDiskGiB: 1 });
    aliceImageId = res.body.id;
    const stored = storedFiles();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatch(/^[0-9a-f-]{36}\.qcow2$/);
    expect(sha256(fs.readFileSync(path.join(uploadsDir, stored[0]!)))).toBe(sha256(file));
    const list = await restClient(portal.baseUrl, tokens.alice)("GET", "/images");
    expect(list.body.find((i: { id: string }) => i.id === aliceImageId)).toMatchObject({ sha256: sha256(file), public: false });
    const quota = await restClient(portal.baseUrl, tokens.alice)("GET", "/me/images-quota");
    expect(quota.body).toEqual({ limitGiB: 1, usedBytes: file.length });
  });

  it("takes a body without a length (chunked), counting as it streams", async () => {
    const data = randomBytes(3 * MIB);
    const res = await rawRequest("PUT", "/api/v1/images/upload?name=alice%20raw&format=raw", auth(tokens.alice), [data.subarray(0, MIB), data.subarray(MIB)]);
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body)).toMatchObject({ format: "raw", sha256: sha256(data), sizeBytes: data.length });
  });

  it("resumes an upload whose connection dropped from the server's offset, with the same sha256", async () => {
    const data = randomBytes(12 * MIB);
    const api = restClient(portal.baseUrl, tokens.alice);
    const created = await api("POST", "/images/uploads", { name: "alice resumable", format: "raw", totalBytes: data.length });
    expect(created.status).toBe(201);
    const id = created.body.id;
    // Send the whole range but only 5 MiB of it, then drop the connection.
    await new Promise<void>((resolve) => {
      const req = http.request(`${portal.baseUrl}/api/v1/images/uploads/${id}`, {
        method: "PUT",
        headers: { ...auth(tokens.alice), "content-length": String(data.length), "content-range": `bytes 0-${data.length - 1}/${data.length}` },
      });
      req.on("error", () => undefined);
      req.write(data.subarray(0, 5 * MIB), () => setTimeout(() => (req.destroy(), resolve()), 500));
    });
    const offset = await waitFor("the server to record the offset", async () => {
      const head = await fetch(`${portal.baseUrl}/api/v1/images/uploads/${id}`, { method: "HEAD", headers: auth(tokens.alice) });
      expect(head.status).toBe(200);
      const n = Number(head.headers.get("upload-offset"));
      return n > 0 ? n : null;
    });
    expect(offset).toBeLessThanOrEqual(5 * MIB);
    expect((await api("GET", `/images/uploads/${id}`)).body).toMatchObject({ offset, state: "uploading", totalBytes: data.length });
    // A chunk from the wrong place is refused with the offset to use.
    const wrong = await rawRequest("PUT", `/api/v1/images/uploads/${id}`, { ...auth(tokens.alice), "content-range": `bytes 0-9/${data.length}`, "content-length": "10" }, [data.subarray(0, 10)]);
    expect(wrong.status).toBe(409);
    expect(JSON.parse(wrong.body).offset).toBe(offset);
    const rest = data.subarray(offset);
    const done = await waitFor("the resumed chunk to be taken", async () => {
      const r = await rawRequest("PUT", `/api/v1/images/uploads/${id}`, { ...auth(tokens.alice), "content-range": `bytes ${offset}-${data.length - 1}/${data.length}`, "content-length": String(rest.length) }, [rest]);
      return r.status === 409 ? null : r;
    });
    expect(done.status).toBe(201);
    const body = JSON.parse(done.body);
    expect(body.image).toMatchObject({ name: "alice resumable", sha256: sha256(data), sizeBytes: data.length });
    expect(body.upload).toMatchObject({ id, offset: data.length });
    expect(partialFiles()).toEqual([]);
  });

  it("refuses a qcow2 whose backing file is /etc/shadow (400) and keeps nothing", async () => {
    const before = storedFiles();
    const evil = qcow2("evil.qcow2", "-b", "/etc/shadow", "-F", "raw");
    const res = await uploadWhole(tokens.alice, "evil", "qcow2", evil);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/backing file \(\/etc\/shadow\)/);
    expect(storedFiles()).toEqual(before);
    expect(partialFiles()).toEqual([]);
    const list = await restClient(portal.baseUrl, tokens.alice)("GET", "/images");
    expect(list.body.map((i: { name: string }) => i.name)).not.toContain("evil");
  });

  it("refuses a format other than the declared one", async () => {
    const before = storedFiles();
    const asRaw = await uploadWhole(tokens.alice, "not raw", "raw", qcow2("mismatch.qcow2"));
    expect(asRaw.status).toBe(400);
    expect(asRaw.body.message).toBe("the file is qcow2, not raw");
    const notIso = await uploadWhole(tokens.alice, "not an iso", "iso", randomBytes(64 * 1024));
    expect(notIso.status).toBe(400);
    expect(notIso.body.message).toMatch(/CD001/);
    expect(storedFiles()).toEqual(before);
    expect((await uploadWhole(tokens.alice, "bad format", "vmdk", Buffer.from("x"))).status).toBe(400);
  });

  it("refuses an upload over the images quota (409) and an oversized Content-Length (413) before reading the body", async () => {
    // Bob has no images quota: refused from the declared length.
    const over = await uploadWhole(tokens.bob, "bob disk", "qcow2", qcow2("bob.qcow2"));
    expect(over.status).toBe(409);
    expect(over.body.message).toMatch(/images quota exceeded: limit 0 GiB/);
    // Alice's 1 GiB: 2 GiB declared is above the upload limit (1 GiB here) → 413 with no body sent.
    const huge = await rawRequest("PUT", "/api/v1/images/upload?name=huge&format=raw", { ...auth(tokens.alice), "content-length": String(2 * 1024 ** 3) });
    expect(huge.status).toBe(413);
    // Within the upload limit but above what her quota has left → 409, also from the headers alone.
    const tooMuch = await rawRequest("PUT", "/api/v1/images/upload?name=much&format=raw", { ...auth(tokens.alice), "content-length": String(1024 ** 3 - MIB) });
    expect(tooMuch.status).toBe(409);
    expect(JSON.parse(tooMuch.body).message).toMatch(/images quota exceeded/);
    expect((await rawRequest("PUT", "/api/v1/images/upload?name=anon&format=raw", { "content-length": "10" }, [Buffer.alloc(10)])).status).toBe(401);
    expect(partialFiles()).toEqual([]);
  });

  it("counts a tenant's unfinished uploads: tiny ones cannot be opened without end (409), a cancelled one frees its place", async () => {
    const api = restClient(portal.baseUrl, tokens.alice);
    const ids: string[] = [];
    for (let i = 0; i < MAX_OPEN; i++) {
      const created = await api("POST", "/images/uploads", { name: `tiny ${i}`, format: "raw", totalBytes: 1 });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    const refused = await api("POST", "/images/uploads", { name: "tiny more", format: "raw", totalBytes: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain(`at most ${MAX_OPEN} unfinished uploads`);
    // The one-request form opens an upload too.
    const whole = await uploadWhole(tokens.alice, "tiny whole", "raw", Buffer.alloc(512));
    expect(whole.status).toBe(409);
    expect((await api("DELETE", `/images/uploads/${ids.pop()}`)).status).toBe(200);
    const again = await api("POST", "/images/uploads", { name: "tiny again", format: "raw", totalBytes: 1 });
    expect(again.status).toBe(201);
    for (const id of [...ids, again.body.id]) expect((await api("DELETE", `/images/uploads/${id}`)).status).toBe(200);
    expect(partialFiles()).toEqual([]);
  });

  it("keeps a private image from other tenants: not listed, not usable, not deletable (404)", async () => {
    const bob = restClient(portal.baseUrl, tokens.bob);
    expect((await bob("GET", "/images")).body.map((i: { id: string }) => i.id)).not.toContain(aliceImageId);
    const vm = await bob("POST", "/vms", { name: "stolen", imageId: aliceImageId, vcpus: 1, memoryMiB: 96, diskGiB: 1 });
    expect(vm.status).toBe(404);
    expect((await bob("DELETE", `/images/${aliceImageId}`)).status).toBe(404);
    expect((await bob("POST", `/images/${aliceImageId}/publish`)).status).toBe(403);
    // Published by an admin, it becomes everyone's (and leaves Alice's quota).
    const published = await restClient(portal.baseUrl, adminToken)("POST", `/images/${aliceImageId}/publish`);
    expect(published.status).toBe(200);
    expect(published.body).toMatchObject({ public: true, ownerId: null });
    expect((await bob("GET", "/images")).body.map((i: { id: string }) => i.id)).toContain(aliceImageId);
  });

  it("boots a VM from an uploaded ISO", async () => {
    const iso = fs.readFileSync(path.join(demoImageDir, "vmdesk-demo.iso"));
    const up = await uploadWhole(tokens.alice, "alice iso", "iso", iso);
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ format: "iso", sha256: sha256(iso) });
    const alice = restClient(portal.baseUrl, tokens.alice);
    const created = await alice("POST", "/vms", { name: "from upload", imageId: up.body.id, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
    expect(created.status).toBe(202);
    const domainName: string = created.body.vm.domainName;
    try {
      const op = await waitFor("create to finish", async () => {
        const r = await alice("GET", `/operations/${created.body.operation.id}`);
        return r.body.status === "succeeded" || r.body.status === "failed" ? r.body : null;
      }, 90_000);
      expect(op.status).toBe("succeeded");
      await waitFor("the guest's readiness banner", async () => fs.existsSync(serialLogPath(domainName)) && fs.readFileSync(serialLogPath(domainName), "utf8").includes("vmdesk-demo-ready"), 120_000);
    } finally {
      const del = await alice("DELETE", `/vms/${created.body.vm.id}`);
      if (del.status === 202) await waitFor("delete", async () => (await alice("GET", `/operations/${del.body.operation.id}`)).body.status === "succeeded", 60_000);
    }
    expect(domainExists(domainName)).toBe(false);
    // The image is in use no more: its owner deletes it, and its file goes too.
    const files = storedFiles().length;
    expect((await alice("DELETE", `/images/${up.body.id}`)).status).toBe(200);
    expect(storedFiles()).toHaveLength(files - 1);
  }, 300_000);
});
