/**
 * What the HTTP server decides before any handler runs: the security headers every response carries
 * and how large a request body may be. Pure, so the policy is unit-tested; server/main.ts applies it.
 */

export interface BodyLimits {
  /** REST, tRPC and everything else but sign-in. */
  apiBytes: number;
  /** next-auth's routes (sign-in forms and callbacks are small). */
  authBytes: number;
  /** Image uploads (server/api/upload-http.ts; the quota is checked there too). Default: apiBytes. */
  uploadBytes?: number;
}

/** The requests whose body is an image file, streamed to disk by server/api/upload-http.ts instead of Next. */
export type UploadRoute = { kind: "whole" } | { kind: "chunk"; id: string } | { kind: "offset"; id: string };

const UPLOAD_WHOLE = "/api/v1/images/upload";
const UPLOAD_CHUNK = /^\/api\/v1\/images\/uploads\/([0-9a-fA-F-]{36})$/;

/**
 * `PUT|POST /api/v1/images/upload` (one request), `PUT /api/v1/images/uploads/{id}` (a chunk with
 * Content-Range), `HEAD /api/v1/images/uploads/{id}` (the offset to resume from); null for anything else
 * (creating, reading and cancelling uploads are ordinary REST calls).
 */
export function uploadRoute(method: string, pathname: string): UploadRoute | null {
  if (pathname === UPLOAD_WHOLE) return method === "PUT" || method === "POST" ? { kind: "whole" } : null;
  const id = UPLOAD_CHUNK.exec(pathname)?.[1];
  if (id === undefined) return null;
  if (method === "PUT") return { kind: "chunk", id };
  if (method === "HEAD") return { kind: "offset", id };
  return null;
}

export type BodyVerdict = { ok: true } | { ok: false; status: 411 | 413; message: string };

const BODYLESS = new Set(["GET", "HEAD", "OPTIONS", "DELETE", "TRACE"]);

export function bodyLimitFor(pathname: string, limits: BodyLimits): number {
  if (pathname === UPLOAD_WHOLE || UPLOAD_CHUNK.test(pathname)) return limits.uploadBytes ?? limits.apiBytes;
  return pathname === "/api/auth" || pathname.startsWith("/api/auth/") ? limits.authBytes : limits.apiBytes;
}

/**
 * Decided from the headers alone, so an oversized body is refused before a byte of it is read. A body
 * without a declared length (chunked) is refused with 411, except an image upload's: every other client
 * vmdesk serves (browsers, tRPC, curl, HTTP libraries with a buffer) sends Content-Length.
 */
export function checkRequestBody(method: string, pathname: string, headers: { "content-length"?: string; "transfer-encoding"?: string }, limits: BodyLimits): BodyVerdict {
  const length = headers["content-length"];
  const limit = bodyLimitFor(pathname, limits);
  if (length === undefined) {
    // An upload may stream without a length (curl -T from a pipe): its handler counts as it writes.
    if (headers["transfer-encoding"] !== undefined && !BODYLESS.has(method) && uploadRoute(method, pathname) === null) return { ok: false, status: 411, message: "send the request body with a Content-Length" };
    return { ok: true };
  }
  if (!/^[0-9]+$/.test(length) || Number(length) > limit) return { ok: false, status: 413, message: `request body larger than ${limit} bytes` };
  return { ok: true };
}

/**
 * The Content-Security-Policy and friends. noVNC draws on a canvas and talks over a websocket to our
 * own origin; xterm.js sets inline styles; Next's production pages bootstrap with inline scripts (no
 * nonce: pages are statically rendered), so scripts are limited to our origin plus inline, never eval
 * outside development. Nothing may frame the portal (clickjacking), nothing is sent as a referrer to
 * other sites, and HSTS is only sent when the public URL is https (a plain-http install would lock
 * itself out).
 */
export function securityHeaders(opts: { publicUrl: string; dev: boolean }): Record<string, string> {
  const url = new URL(opts.publicUrl);
  const wsOrigin = `${url.protocol === "https:" ? "wss:" : "ws:"}//${url.host}`;
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline'${opts.dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self' ${wsOrigin}${opts.dev ? " ws: wss:" : ""}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  const headers: Record<string, string> = {
    "Content-Security-Policy": csp,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
  };
  if (url.protocol === "https:") headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains";
  return headers;
}
