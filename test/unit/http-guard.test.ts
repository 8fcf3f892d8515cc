import { describe, expect, it } from "vitest";
import { bodyLimitFor, checkRequestBody, securityHeaders, uploadRoute } from "../../server/http-guard.ts";

const limits = { apiBytes: 1024, authBytes: 100 };

describe("checkRequestBody", () => {
  it("refuses declared lengths above the route's limit before reading", () => {
    expect(checkRequestBody("POST", "/api/v1/users", { "content-length": "1024" }, limits)).toEqual({ ok: true });
    expect(checkRequestBody("POST", "/api/v1/users", { "content-length": "1025" }, limits)).toMatchObject({ ok: false, status: 413 });
    expect(checkRequestBody("POST", "/api/trpc/user.create", { "content-length": "99999999999999999999" }, limits)).toMatchObject({ status: 413 });
    expect(checkRequestBody("POST", "/api/auth/callback/credentials", { "content-length": "101" }, limits)).toMatchObject({ status: 413 });
    expect(checkRequestBody("POST", "/api/authx", { "content-length": "101" }, limits)).toEqual({ ok: true });
    expect(checkRequestBody("POST", "/api/v1/users", { "content-length": "-1" }, limits)).toMatchObject({ status: 413 });
    expect(checkRequestBody("POST", "/api/v1/users", { "content-length": "1e3" }, limits)).toMatchObject({ status: 413 });
  });
  it("refuses bodies without a length (chunked) with 411, and lets bodiless requests through", () => {
    expect(checkRequestBody("POST", "/api/v1/users", { "transfer-encoding": "chunked" }, limits)).toMatchObject({ ok: false, status: 411 });
    expect(checkRequestBody("GET", "/api/v1/users", {}, limits)).toEqual({ ok: true });
    expect(checkRequestBody("POST", "/api/v1/vms/x/start", {}, limits)).toEqual({ ok: true });
  });
  it("gives next-auth's routes their own limit", () => {
    expect(bodyLimitFor("/api/auth/signin", limits)).toBe(100);
    expect(bodyLimitFor("/api/v1/auth/token", limits)).toBe(1024);
  });
});

describe("securityHeaders", () => {
  it("sends a CSP that forbids framing, plugins, foreign scripts and foreign connections", () => {
    const h = securityHeaders({ publicUrl: "http://portal.example:3000", dev: false });
    const csp = h["Content-Security-Policy"]!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("connect-src 'self' ws://portal.example:3000");
    expect(csp).not.toContain("unsafe-eval");
    expect(h["Referrer-Policy"]).toBe("same-origin");
    expect(h["X-Content-Type-Options"]).toBe("nosniff");
    expect(h["Strict-Transport-Security"]).toBeUndefined();
  });
  it("adds HSTS and wss only when served over TLS", () => {
    const h = securityHeaders({ publicUrl: "https://portal.example", dev: false });
    expect(h["Strict-Transport-Security"]).toMatch(/max-age=\d{7,}/);
    expect(h["Content-Security-Policy"]).toContain("connect-src 'self' wss://portal.example");
  });
});

describe("uploads", () => {
  const limits = { apiBytes: 1024, authBytes: 100, uploadBytes: 10_000 };
  const id = "0b3c1a52-8f6e-4a55-9a2e-5d7c1c1f0a11";

  it("routes only the byte-carrying upload requests away from Next", () => {
    expect(uploadRoute("PUT", "/api/v1/images/upload")).toEqual({ kind: "whole" });
    expect(uploadRoute("POST", "/api/v1/images/upload")).toEqual({ kind: "whole" });
    expect(uploadRoute("GET", "/api/v1/images/upload")).toBeNull();
    expect(uploadRoute("PUT", `/api/v1/images/uploads/${id}`)).toEqual({ kind: "chunk", id });
    expect(uploadRoute("HEAD", `/api/v1/images/uploads/${id}`)).toEqual({ kind: "offset", id });
    for (const m of ["GET", "DELETE", "POST"]) expect(uploadRoute(m, `/api/v1/images/uploads/${id}`)).toBeNull();
    expect(uploadRoute("POST", "/api/v1/images/uploads")).toBeNull();
    expect(uploadRoute("PUT", "/api/v1/images/uploads/../../users")).toBeNull();
  });

  it("gives uploads their own body limit and lets them stream without a length", () => {
    expect(checkRequestBody("PUT", "/api/v1/images/upload", { "content-length": "10000" }, limits)).toEqual({ ok: true });
    expect(checkRequestBody("PUT", "/api/v1/images/upload", { "content-length": "10001" }, limits)).toMatchObject({ status: 413 });
    expect(checkRequestBody("PUT", `/api/v1/images/uploads/${id}`, { "content-length": "5000" }, limits)).toEqual({ ok: true });
    expect(checkRequestBody("PUT", "/api/v1/images/upload", { "transfer-encoding": "chunked" }, limits)).toEqual({ ok: true });
    expect(checkRequestBody("POST", "/api/v1/images/uploads", { "content-length": "5000" }, limits)).toMatchObject({ status: 413 });
    expect(checkRequestBody("PUT", "/api/v1/vms", { "transfer-encoding": "chunked" }, limits)).toMatchObject({ status: 411 });
    expect(bodyLimitFor("/api/v1/images/upload", { apiBytes: 1024, authBytes: 100 })).toBe(1024);
  });
});
