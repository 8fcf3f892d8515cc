/**
 * The OpenAPI document of /api/v1, generated from the routers (trpc-to-openapi) and then made to say
 * what the API really does: each operation's success status (201/202 where declared), every error
 * status it can answer with, one error body schema that is exactly what rest.ts sends, the public URL
 * (NEXTAUTH_URL) as its server, and no security requirement on the token exchange.
 */
import { generateOpenApiDocument } from "trpc-to-openapi";
import { publicUrl } from "../config.ts";
import { appRouter } from "./root.ts";

type Doc = ReturnType<typeof generateOpenApiDocument>;
type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

interface RestMeta {
  openapi?: { method: Method; path: string; protect?: boolean };
  successStatus?: number;
}

const ERROR_TEXT: Record<number, string> = {
  400: "invalid input (the message names each field and why) or malformed JSON",
  401: "no valid session or API token; for /auth/token: wrong username or password",
  403: "signed in, but not allowed (role, token scope, a temporary password not yet changed: PASSWORD_CHANGE_REQUIRED, or a cookie-authenticated mutation from another site)",
  404: "no such object, or not yours",
  409: "conflict: another operation is active, a name is taken, or a quota or budget would be exceeded",
  412: "the object is not in a state that allows this",
  413: "request body too large",
  415: "the request body is not JSON",
  429: "too many attempts; retry later",
  500: "internal error (the message carries a request id for the logs)",
};

/** The error body every REST error carries (rest.ts builds exactly this). */
export const ERROR_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["code", "message"],
  properties: {
    code: { type: "string", description: "tRPC-style code, e.g. BAD_REQUEST, NOT_FOUND, CONFLICT, PAYLOAD_TOO_LARGE" },
    message: { type: "string" },
    issues: {
      type: "array",
      description: "input validation: one entry per field",
      items: { type: "object", additionalProperties: false, required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } },
    },
  },
} as const;

export interface RestOperation {
  method: Method;
  path: string;
  protect: boolean;
  successStatus: number;
}

/** Every REST operation with the facts the document and the method check need. */
export const restOperations: RestOperation[] = Object.values(appRouter._def.procedures as unknown as Record<string, { _def: { meta?: RestMeta } }>)
  .map((p) => p._def.meta)
  .filter((m): m is RestMeta & { openapi: NonNullable<RestMeta["openapi"]> } => Boolean(m?.openapi))
  .map((m) => ({ method: m.openapi.method, path: m.openapi.path, protect: m.openapi.protect ?? true, successStatus: m.successStatus ?? 200 }));

/** Protected operations that verify a password, rate-limited like sign-in (429). */
const CHECKS_PASSWORD = new Set(["/me/password"]);

/** The error statuses an operation can answer with, from what its layers can throw. */
export function errorStatuses(op: RestOperation): number[] {
  const s = new Set([400, 500]);
  const hasBody = op.method !== "GET" && op.method !== "DELETE";
  if (hasBody) s.add(413).add(415);
  if (!op.protect || CHECKS_PASSWORD.has(op.path)) s.add(401).add(429);
  if (op.protect) {
    s.add(401).add(403);
    if (op.method !== "GET" || op.path.includes("{")) s.add(404);
    if (op.method !== "GET") s.add(409);
    if (op.method !== "GET" && (op.path.startsWith("/vms/{id}") || op.path.startsWith("/classes"))) s.add(412);
  }
  return [...s].sort((a, b) => a - b);
}

function templateRegExp(template: string): RegExp {
  return new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}/?$`);
}
const templates = [...new Set(restOperations.map((o) => o.path))].map((path) => ({ re: templateRegExp(path), methods: restOperations.filter((o) => o.path === path).map((o) => o.method) }));

/** Methods served at a path below /api/v1 (null: no such path). */
export function allowedMethods(pathBelowV1: string): Method[] | null {
  if (pathBelowV1 === "/openapi.json") return ["GET"];
  const found = templates.filter((t) => t.re.test(pathBelowV1)).flatMap((t) => t.methods);
  return found.length ? [...new Set(found)] : null;
}

let doc: Doc | undefined;

export function openApiDocument(): Doc {
  if (doc) return doc;
  const generated = generateOpenApiDocument(appRouter, {
    title: "vmdesk API",
    description:
      "Self-service KVM VMs. Authenticate with POST /auth/token, then send Authorization: Bearer <token>. Errors are {code, message, issues?}; bodies are JSON (an empty body counts as {}), at most VMDESK_MAX_BODY_BYTES and with a Content-Length.",
    version: "1.0.0",
    baseUrl: `${publicUrl()}/api/v1`,
  });
  type Schemas = NonNullable<NonNullable<Doc["components"]>["schemas"]>;
  const schemas: Schemas = Object.fromEntries(Object.entries(generated.components?.schemas ?? {}).filter(([k]) => !k.startsWith("error.")));
  schemas.Error = ERROR_SCHEMA as unknown as Schemas[string];
  generated.components = { ...generated.components, schemas };
  for (const op of restOperations) {
    const item = (generated.paths as Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>>)[op.path]?.[op.method.toLowerCase()];
    if (!item) continue;
    const success = item.responses["200"];
    const responses: Record<string, unknown> = { [String(op.successStatus)]: success };
    for (const status of errorStatuses(op)) {
      responses[String(status)] = { description: ERROR_TEXT[status], content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
    }
    item.responses = responses;
    if (!op.protect) item.security = [];
  }
  doc = generated;
  return doc;
}
