/**
 * `npm run bench:upload` — a 1 GiB image upload (BENCH_UPLOAD_MIB to change the size) sent by `curl -T`
 * to the real portal (PUT /api/v1/images/upload: bearer token, streamed to disk, sha256 on the way,
 * qemu-img validation, the image row) against `curl -T` of the same file to a bare Node HTTP sink that
 * only pipes the body to a file, in the same run, alternating, best of BENCH_ROUNDS (default 2). Prints
 * one JSON line; `ratio` is the portal's throughput as a share of the sink's (exit 1 below 0.8).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { disconnectDb } from "../../server/db/client.ts";
import { dataDir, seedDatabase } from "../support/harness.ts";
import { restClient, startPortalServer } from "../support/server.ts";
import { BENCH_ADMIN_PASSWORD, assertBenchPrepared } from "./baseline.ts";

assertBenchPrepared("upload");
const MIB = Number(process.env.BENCH_UPLOAD_MIB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const TARGET_RATIO = 0.8;
const work = path.join(dataDir, "bench-upload");
const imageDir = path.join(work, "images");
const source = path.join(work, "source.img");
const sinkFile = path.join(work, "sink.img");

/** `curl -T file url`: seconds taken and the HTTP status. */
function curlPut(url: string, headers: string[]): Promise<{ seconds: number; status: number; body: string }> {
  const out = path.join(work, "response.json");
  const args = ["-sS", "-T", source, "-o", out, "-w", "%{http_code}", ...headers.flatMap((h) => ["-H", h]), url];
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile("curl", args, (err, stdout) => {
      if (err) return reject(err);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ seconds, status: Number(stdout), body: fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "" });
    });
  });
}

/** The floor: an HTTP server that writes the body to a file and answers 201. */
function startSink(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const out = fs.createWriteStream(sinkFile);
    req.pipe(out);
    out.on("finish", () => {
      res.writeHead(201, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  server.requestTimeout = 0;
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as import("node:net").AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/sink`, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

async function main(): Promise<void> {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(imageDir, { recursive: true, mode: 0o755 });
  // Random bytes: nothing on the way may profit from zeros.
  const fd = fs.openSync(source, "w");
  for (let i = 0; i < MIB; i++) fs.writeSync(fd, randomBytes(1024 * 1024));
  fs.closeSync(fd);

  const { url } = await seedDatabase("vmdesk_bench_upload", { poolSuffix: "ubench", adminPassword: BENCH_ADMIN_PASSWORD });
  await disconnectDb();
  const portal = await startPortalServer(url, { VMDESK_WORKER: "off", VMDESK_IMAGE_DIRS: imageDir, VMDESK_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "error" });
  const sink = await startSink();
  try {
    const token = (await restClient(portal.baseUrl, undefined, { checkSpec: false })("POST", "/auth/token", { username: "admin", password: BENCH_ADMIN_PASSWORD })).body.token as string;
    const api = restClient(portal.baseUrl, token, { checkSpec: false });
    const portalTimes: number[] = [];
    const baselineTimes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const base = await curlPut(sink.url, []);
      if (base.status !== 201) throw new Error(`sink answered ${base.status}`);
      baselineTimes.push(base.seconds);
      fs.rmSync(sinkFile, { force: true });
      const up = await curlPut(`${portal.baseUrl}/api/v1/images/upload?name=bench-${round}&format=raw`, [`authorization: Bearer ${token}`]);
      if (up.status !== 201) throw new Error(`portal answered ${up.status}: ${up.body}`);
      portalTimes.push(up.seconds);
      const image = JSON.parse(up.body) as { id: string };
      await api("DELETE", `/images/${image.id}`);
    }
    const portal_s = Math.min(...portalTimes);
    const baseline_s = Math.min(...baselineTimes);
    const ratio = baseline_s / portal_s;
    console.log(JSON.stringify({ bench: "upload", mib: MIB, portal_s: Number(portal_s.toFixed(3)), baseline_s: Number(baseline_s.toFixed(3)), ratio: Number(ratio.toFixed(2)) }));
    if (ratio < TARGET_RATIO) process.exitCode = 1;
  } finally {
    await sink.close();
    await portal.stop();
    await disconnectDb();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
