/**
 * tRPC setup: request context (who is calling, how), the AppError → tRPC/HTTP code mapping (the only
 * one), and the procedure factories every router uses. The same procedures serve the browser (tRPC)
 * and automation (REST via trpc-to-openapi).
 */
import { randomUUID } from "node:crypto";
import { initTRPC, TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { decode } from "next-auth/jwt";
import superjson from "superjson";
import type { OpenApiMeta } from "trpc-to-openapi";
import { ZodError } from "zod";
import { db } from "../db/client.ts";
import { Prisma } from "../../prisma/generated/client.ts";
import { AppError, type AppErrorCode } from "../domain/errors.ts";
import { authorizeScope, procedureScope, type Scope } from "../domain/policy.ts";
import { log } from "../log.ts";
import { auditRefusal } from "../services/audit-service.ts";
import { loadSessionUser, resolveApiToken, type AuthenticatedUser } from "../services/auth-service.ts";
import type { ServiceContext } from "../services/context.ts";

export interface ApiContext {
  user: AuthenticatedUser | null;
  authMethod: "session" | "token" | null;
  /** false when a cookie-authenticated request comes from another site (CSRF). */
  sameOrigin: boolean;
  ip: string | null;
  requestId: string;
  /** The portal's own origin for absolute URLs (console): NEXTAUTH_URL, else the request's. */
  portalOrigin?: string;
  /** Why `user` is null when credentials were sent (for the aggregated audit of refusals). */
  refusalReason?: "invalid token" | "invalid session";
  /**
   * Whether the request's credentials still stand (token not revoked, session's sessionVersion and
   * lifetime): long-lived streams ask again and end when they do not. Absent for in-process callers.
   */
  stillAuthenticated?: () => Promise<boolean>;
}

/** Header set by server/main.ts from the socket's address (client-sent values are discarded there). */
export const CLIENT_IP_HEADER = "x-vmdesk-client-ip";
const SESSION_COOKIES = ["__Secure-next-auth.session-token", "next-auth.session-token"];

function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

function isSameOrigin(req: Request): boolean {
  const fetchSite = req.headers.get("sec-fetch-site");
  if (fetchSite && fetchSite !== "same-origin" && fetchSite !== "none") return false;
  const origin = req.headers.get("origin");
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.get("host");
  } catch {
    return false;
  }
}

function portalOrigin(req: Request): string {
  if (process.env.NEXTAUTH_URL) return new URL(process.env.NEXTAUTH_URL).origin;
  const url = new URL(req.url);
  const host = req.headers.get("host");
  return host ? `${url.protocol}//${host}` : url.origin;
}

export async function createContext({ req }: { req: Request }): Promise<ApiContext> {
  const base = { ip: req.headers.get(CLIENT_IP_HEADER), requestId: randomUUID(), portalOrigin: portalOrigin(req) };
  const authorization = req.headers.get("authorization");
  if (authorization?.toLowerCase().startsWith("bearer ")) {
    const secret = authorization.slice(7).trim();
    const user = await resolveApiToken(db(), secret);
    const stillAuthenticated = async () => (await resolveApiToken(db(), secret)) !== null;
    return { ...base, user, authMethod: user ? "token" : null, sameOrigin: true, stillAuthenticated, ...(user ? {} : { refusalReason: "invalid token" as const }) };
  }
  const cookieHeader = req.headers.get("cookie");
  const sessionToken = SESSION_COOKIES.map((n) => readCookie(cookieHeader, n)).find(Boolean);
  if (sessionToken && process.env.NEXTAUTH_SECRET) {
    const jwt = await decode({ token: sessionToken, secret: process.env.NEXTAUTH_SECRET }).catch(() => null);
    const user = jwt ? await loadSessionUser(db(), jwt) : null;
    const stillAuthenticated = async () => (await loadSessionUser(db(), jwt)) !== null;
    return { ...base, user, authMethod: user ? "session" : null, sameOrigin: isSameOrigin(req), stillAuthenticated, ...(user ? {} : { refusalReason: "invalid session" as const }) };
  }
  return { ...base, user: null, authMethod: null, sameOrigin: true };
}

const HTTP_CODE: Record<AppErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  PASSWORD_CHANGE_REQUIRED: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  QUOTA_EXCEEDED: "CONFLICT",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  WRONG_STATE: "PRECONDITION_FAILED",
  RATE_LIMITED: "TOO_MANY_REQUESTS",
  UNAVAILABLE: "SERVICE_UNAVAILABLE",
};


const t = initTRPC
  .context<ApiContext>()
  .meta<OpenApiMeta & { successStatus?: number; scope?: Scope; allowedBeforePasswordChange?: boolean }>()
  .create({
    transformer: superjson,
    errorFormatter({ shape, error }) {
      const cause = error.cause;
      const zodIssues = cause instanceof ZodError ? cause.issues.map((i) => ({ path: i.path.join("."), message: i.message })) : undefined;
      return {
        ...shape,
        message: zodIssues ? `invalid input: ${zodIssues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; ")}` : shape.message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          appCode: cause instanceof AppError ? cause.code : undefined,
          details: cause instanceof AppError ? cause.details : undefined,
          issues: zodIssues,
        },
      };
    },
  });

/** Maps domain errors to precise codes; hides everything else behind a generic message. */
const errorMapping = t.middleware(async ({ next, ctx, path }) => {
  const result = await next();
  if (!result.ok) {
    const err = result.error;
    const cause = err.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: HTTP_CODE[cause.code], message: cause.message, cause });
    }
    // Serialization failures and deadlocks: the request lost a race and changed nothing; say so.
    if (cause instanceof Prisma.PrismaClientKnownRequestError && cause.code === "P2034") {
      throw new TRPCError({ code: "CONFLICT", message: "a concurrent change got there first; retry", cause });
    }
    if (err.code === "INTERNAL_SERVER_ERROR") {
      log.error({ err: cause ?? err, path, requestId: ctx.requestId }, "unhandled error");
      throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: `internal error (request ${ctx.requestId})` });
    }
  }
  return result;
});

/** A domain error's HTTP status and REST `code`, for handlers outside tRPC (server/api/upload-http.ts): the same mapping. */
export function appErrorHttp(code: AppErrorCode): { status: number; code: TRPC_ERROR_CODE_KEY } {
  return { status: getHTTPStatusCodeFromError(new TRPCError({ code: HTTP_CODE[code] })), code: HTTP_CODE[code] };
}

/** The HTTP status alone (appErrorHttp's). */
export function appErrorStatus(code: AppErrorCode): number {
  return appErrorHttp(code).status;
}

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(errorMapping);

/**
 * The gate every authenticated request passes, procedure or raw HTTP route (serial-log download and
 * follow, submission export download, uploads): signed in (else one aggregated `auth.refused` row and
 * 401), off a temporary password unless the caller is allowed before the change, cookie sessions
 * same-origin for anything that is not a read (CSRF), and the token's scope. Returns the context the
 * use-cases take; the use-cases' policy checks decide about the object itself.
 */
export async function admitCaller(ctx: ApiContext, opts: { scope: Scope; read: boolean; allowedBeforePasswordChange?: boolean }): Promise<ServiceContext & { actor: AuthenticatedUser }> {
  if (!ctx.user) {
    // One row per address, reason and minute (a count, not a row per request): floods stay cheap.
    await auditRefusal(db(), { action: "auth.refused", ip: ctx.ip, reason: ctx.refusalReason ?? "no credentials" });
    throw new AppError("UNAUTHORIZED", "sign in or send a valid API token");
  }
  // Roster accounts carry a temporary password: nothing but the change (and "who am I") until it is changed.
  if (ctx.user.mustChangePassword && !opts.allowedBeforePasswordChange) {
    throw new AppError("PASSWORD_CHANGE_REQUIRED", "PASSWORD_CHANGE_REQUIRED: change your temporary password first (POST /api/v1/me/password, or sign in on the web)");
  }
  if (!opts.read && ctx.authMethod === "session" && !ctx.sameOrigin) throw new AppError("FORBIDDEN", "cross-site request refused");
  authorizeScope(ctx.user, opts.scope);
  return { db: db(), actor: ctx.user, ip: ctx.ip, requestId: ctx.requestId };
}

/**
 * Signed in (session or token), enabled, and — for cookie sessions — mutations only from our own pages.
 * A token also needs the procedure's scope (policy.procedureScope: `meta.scope`, else read for queries
 * and vms for mutations); the actions a procedure then authorizes check their own scopes in policy too.
 * An account on a temporary password may call only procedures marked `allowedBeforePasswordChange`.
 */
export const protectedProcedure = publicProcedure.use(async ({ ctx, type, meta, next }) => {
  const svc = await admitCaller(ctx, { scope: procedureScope(type, meta?.scope), read: type === "query", allowedBeforePasswordChange: meta?.allowedBeforePasswordChange });
  const origin = ctx.portalOrigin ?? new URL(process.env.NEXTAUTH_URL ?? "http://localhost:3000").origin;
  return next({ ctx: { ...ctx, user: svc.actor, svc, portalOrigin: origin } });
});

export function rest(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: `/${string}`, summary: string, extra: { protect?: boolean; tags?: string[] } = {}) {
  return { openapi: { method, path, summary, protect: extra.protect ?? true, tags: extra.tags } } satisfies OpenApiMeta;
}
