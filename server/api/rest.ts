/**
 * The REST face of the tRPC router (`/api/v1`, OpenAPI at `/api/v1/openapi.json`), as a plain fetch
 * handler: app/api/v1 serves it through Next, and tests can call it directly.
 */
import { createOpenApiFetchHandler } from "trpc-to-openapi";
import { openApiDocument } from "./openapi.ts";
import { appRouter, restSuccessStatus } from "./root.ts";
import { createContext } from "./trpc.ts";

interface Issue {
  path?: Array<string | number>;
  message?: string;
}

/** trpc-to-openapi replaces validation messages with a generic one: name every field and why instead. */
async function explainValidation(res: Response): Promise<Response> {
  if (res.status !== 400) return res;
  const body = (await res.json()) as { message?: string; issues?: Issue[] };
  if (body.issues?.length) {
    body.message = `invalid input: ${body.issues.map((i) => `${i.path?.join(".") || "(body)"}: ${i.message}`).join("; ")}`;
  }
  return Response.json(body, { status: 400, headers: res.headers });
}

/** Action endpoints take no body: accept `POST /vms/{id}/start` without one (as curl sends it). */
async function withJsonBody(req: Request): Promise<Request> {
  if (req.method === "GET" || req.method === "HEAD" || req.headers.get("content-type")) return req;
  const text = await req.text();
  const headers = new Headers(req.headers);
  headers.set("content-type", "application/json");
  return new Request(req.url, { method: req.method, headers, body: text.trim() === "" ? "{}" : text });
}

export async function handleRestRequest(incoming: Request): Promise<Response> {
  const req = await withJsonBody(incoming);
  const url = new URL(req.url);
  if (url.pathname === "/api/v1/openapi.json" && req.method === "GET") {
    return Response.json(openApiDocument(`${url.origin}/api/v1`));
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
  return explainValidation(res);
}
