/**
 * The byte-carrying upload requests, served on the Node request by server/main.ts before Next (a route
 * handler would hand us a web stream and buffer less predictably): the request body is piped straight
 * to the upload's partial file with backpressure. Authentication is the API's own (createContext and
 * admitCaller: bearer token or session cookie, same-origin for cookies), authorization the policy's,
 * through the services; everything else about uploads (create, state, cancel) is ordinary REST in routers/image.ts.
 *
 *   PUT|POST /api/v1/images/upload?name=N&format=qcow2|raw|iso[&description=D]  → 201 image
 *   PUT  /api/v1/images/uploads/{id}  Content-Range: bytes S-E/T  → 200 {upload} | 201 {upload, image}
 *   HEAD /api/v1/images/uploads/{id}  → 200, Upload-Offset / Upload-Length headers
 */
import type http from "node:http";
import { randomUUID } from "node:crypto";
import { config } from "../config.ts";
import { AppError } from "../domain/errors.ts";
import { isUploadFormat, parseContentRange } from "../domain/image-upload.ts";
import type { UploadRoute } from "../http-guard.ts";
import { log } from "../log.ts";
import type { ServiceContext } from "../services/context.ts";
import { appendUpload, getUpload, uploadWhole } from "../services/upload-service.ts";
import { ZLineText, ZName } from "./schemas.ts";
import { admitCaller, appErrorHttp, createContext } from "./trpc.ts";

/** How main.ts answers without reading (the rest of) a body: it lingers so the client sees the answer. */
export type Refuse = (req: http.IncomingMessage, res: http.ServerResponse, status: number, body: object, extra?: Record<string, string>) => void;

/** The caller, authenticated exactly as tRPC/REST requests are; an AppError when they may not upload at all. */
async function authenticate(req: http.IncomingMessage): Promise<ServiceContext> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  const ctx = await createContext({ req: new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, { headers }) });
  // A HEAD (where an upload stands) is a read; the byte-carrying requests change state.
  return admitCaller(ctx, { scope: "vms", read: req.method === "HEAD" });
}

function declaredLength(req: http.IncomingMessage): number | null {
  const raw = req.headers["content-length"];
  return raw === undefined ? null : Number(raw);
}

/** Serves one upload request; every outcome is a JSON answer (or a HEAD's headers), never a thrown error. */
export async function handleUploadRequest(req: http.IncomingMessage, res: http.ServerResponse, route: UploadRoute, refuse: Refuse): Promise<void> {
  const cfg = config();
  // A whole upload may take long; a silent one may not.
  req.setTimeout(cfg.VMDESK_UPLOAD_IDLE_S * 1000, () => req.destroy(new Error("upload idle timeout")));
  const signal = AbortSignal.timeout(cfg.VMDESK_UPLOAD_TIMEOUT_S * 1000);
  try {
    const ctx = await authenticate(req);
    if (route.kind === "offset") {
      const u = await getUpload(ctx, route.id);
      res.writeHead(200, { "upload-offset": String(u.offset), ...(u.totalBytes !== null ? { "upload-length": String(u.totalBytes) } : {}), "upload-state": u.state, "cache-control": "no-store" });
      return void res.end();
    }
    if (route.kind === "whole") {
      const q = new URL(req.url ?? "/", "http://x").searchParams;
      const name = ZName.safeParse(q.get("name") ?? "");
      const description = ZLineText(1000).safeParse(q.get("description") ?? "");
      const format = q.get("format") ?? "";
      if (!name.success) throw new AppError("BAD_REQUEST", `name: ${name.error.issues[0]?.message ?? "invalid"}`);
      if (!description.success) throw new AppError("BAD_REQUEST", `description: ${description.error.issues[0]?.message ?? "invalid"}`);
      if (!isUploadFormat(format)) throw new AppError("BAD_REQUEST", "format must be qcow2, raw or iso");
      const image = await uploadWhole(ctx, { name: name.data, description: description.data, format }, declaredLength(req), req, signal);
      return refuse(req, res, 201, image);
    }
    const range = parseContentRange(req.headers["content-range"]);
    if (!range.ok) throw new AppError("BAD_REQUEST", range.reason);
    const length = declaredLength(req);
    if (length !== null && length !== range.range.end - range.range.start + 1) throw new AppError("BAD_REQUEST", "Content-Length does not match Content-Range");
    const out = await appendUpload(ctx, route.id, { start: range.range.start, total: range.range.total, length }, req, signal);
    return refuse(req, res, out.image ? 201 : 200, out, { "upload-offset": String(out.upload.offset) });
  } catch (err) {
    if (res.headersSent || res.destroyed) return;
    // Whatever of the body is still coming is discarded (main.ts cuts a client off that keeps sending).
    if (!req.complete) req.resume();
    if (err instanceof AppError) {
      const { status, code } = appErrorHttp(err.code);
      const offset = typeof err.details?.offset === "number" ? err.details.offset : undefined;
      return refuse(req, res, status, { code, message: err.message, ...(offset !== undefined ? { offset } : {}) }, offset !== undefined ? { "upload-offset": String(offset) } : {});
    }
    const requestId = randomUUID();
    log.error({ err, requestId }, "upload failed");
    return refuse(req, res, 500, { code: "INTERNAL_SERVER_ERROR", message: `internal error (request ${requestId})` });
  }
}
