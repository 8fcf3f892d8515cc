/**
 * The REST face of the tRPC router (`/api/v1`, OpenAPI at `/api/v1/openapi.json`), as a plain fetch
 * handler: app/api/v1 serves it through Next, and tests can call it directly.
 *
 * Around trpc-to-openapi it fixes what the library gets wrong for a public API: bodies are read with a
 * limit; an empty JSON body is `{}`; a method the path does not serve is 405 with Allow; inputs are
 * never coerced (the library flips every number/boolean/date field of an input to coercion on each
 * request, bodies included, and those schema objects are shared with tRPC: `"false"` became `true`);
 * and every error body is exactly the documented `{code, message, issues?}`.
 */
import { createOpenApiFetchHandler } from "trpc-to-openapi";
import { config } from "../config.ts";
import { allowedMethods, openApiDocument } from "./openapi.ts";
import { appRouter, restSuccessStatus } from "./root.ts";
import { serialLogHttp } from "./serial-log-http.ts";
import { submissionExportHttp } from "./submission-export-http.ts";
import { createContext } from "./trpc.ts";

interface ZodDefLike {
  type?: string;
  coerce?: boolean;
  shape?: Record<string, { _zod?: { def?: ZodDefLike } }>;
  innerType?: { _zod?: { def?: ZodDefLike } };
  element?: { _zod?: { def?: ZodDefLike } };
  in?: { _zod?: { def?: ZodDefLike } };
  out?: { _zod?: { def?: ZodDefLike } };
  options?: Array<{ _zod?: { def?: ZodDefLike } }>;
}

const COERCIBLE = new Set(["number", "boolean", "bigint", "date"]);

const pinned = new WeakSet<ZodDefLike>();

/** Pins each number/boolean/bigint/date schema's `coerce` flag to what the schema declared. */
function pinCoercion(def: ZodDefLike | undefined, seen: WeakSet<ZodDefLike> = pinned): void {
  if (!def || seen.has(def)) return;
  seen.add(def);
  if (def.type && COERCIBLE.has(def.type)) {
    const declared = Boolean(def.coerce);
    Object.defineProperty(def, "coerce", { get: () => declared, set: () => undefined, enumerable: true, configurable: false });
    return;
  }
  const shape = def.type === "object" ? Object.values(def.shape ?? {}) : [];
  for (const child of [...shape, def.innerType, def.element, def.in, def.out, ...(def.options ?? [])]) pinCoercion(child?._zod?.def, seen);
}
for (const procedure of Object.values(appRouter._def.procedures as unknown as Record<string, { _def: { inputs?: Array<{ _zod?: { def?: ZodDefLike } }> } }>)) {
  for (const input of procedure._def.inputs ?? []) pinCoercion(input._zod?.def);
}

interface Issue {
  path?: Array<string | number> | string;
  message?: string;
}

function errorResponse(status: number, code: string, message: string, headers?: HeadersInit): Response {
  return Response.json({ code, message }, { status, headers });
}

/** The documented error body, whatever the library put in it. */
async function shapeError(res: Response): Promise<Response> {
  if (res.status < 400) return res;
  const body = (await res.json().catch(() => ({}))) as { code?: unknown; message?: unknown; issues?: Issue[] };
  const issues = Array.isArray(body.issues) && body.issues.length ? body.issues.map((i) => ({ path: Array.isArray(i.path) ? i.path.join(".") : String(i.path ?? ""), message: String(i.message ?? "") })) : undefined;
  const message = issues ? `invalid input: ${issues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; ")}` : typeof body.message === "string" ? body.message : "request failed";
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  return Response.json({ code: typeof body.code === "string" ? body.code : "INTERNAL_SERVER_ERROR", message, ...(issues ? { issues } : {}) }, { status: res.status, headers });
}

class BodyTooLarge extends Error {}

/** Reads at most `limit` bytes, counting as it streams (server/main.ts refuses by Content-Length first). */
async function readLimited(req: Request, limit: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw new BodyTooLarge();
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Action endpoints take no body: accept `POST /vms/{id}/start` without one (as curl sends it), or
 * with a JSON content type and nothing after it (as many HTTP clients send it).
 */
async function withJsonBody(req: Request, limit: number): Promise<Request> {
  if (req.method === "GET" || req.method === "HEAD" || req.method === "DELETE") return req;
  const text = await readLimited(req, limit);
  const headers = new Headers(req.headers);
  headers.delete("content-length");
  if (!headers.get("content-type")) headers.set("content-type", "application/json");
  const isJson = headers.get("content-type")!.toLowerCase().startsWith("application/json");
  return new Request(req.url, { method: req.method, headers, body: isJson && text.trim() === "" ? "{}" : text });
}

/** 405 for a path that exists but not with this method (null when the path or method is served). */
export function methodNotAllowed(method: string, pathBelowV1: string): Response | null {
  const allowed = allowedMethods(pathBelowV1);
  if (!allowed || allowed.includes(method as never) || (method === "HEAD" && allowed.includes("GET"))) return null;
  return errorResponse(405, "METHOD_NOT_SUPPORTED", `${method} is not supported here; use ${allowed.join(", ")}`, { allow: allowed.join(", ") });
}

export async function handleRestRequest(incoming: Request): Promise<Response> {
  const url = new URL(incoming.url);
  const below = url.pathname.replace(/^\/api\/v1/, "") || "/";
  const refused = methodNotAllowed(incoming.method, below);
  if (refused) return refused;
  if (below === "/openapi.json") return Response.json(openApiDocument());
  const serialLog = await serialLogHttp(incoming, below);
  if (serialLog) return serialLog;
  const submissionExport = await submissionExportHttp(incoming, below);
  if (submissionExport) return submissionExport;
  let req: Request;
  try {
    req = await withJsonBody(incoming, config().VMDESK_MAX_BODY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLarge) return errorResponse(413, "PAYLOAD_TOO_LARGE", `request body larger than ${config().VMDESK_MAX_BODY_BYTES} bytes`);
    throw err;
  }
  const res = await createOpenApiFetchHandler({
    endpoint: "/api/v1",
    router: appRouter,
    createContext,
    req,
    responseMeta: ({ paths, errors }) => {
      const status = errors.length === 0 && paths?.[0] ? restSuccessStatus.get(paths[0]) : undefined;
      return status ? { status } : {};
    },
  });
  return shapeError(res);
}
