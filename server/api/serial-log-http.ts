/**
 * The two faces of `GET /api/v1/vms/{id}/serial-log` that are not JSON: `download=1` (the whole kept
 * log as a text/plain attachment) and `follow=1` (a text/event-stream of new output). Served before
 * the OpenAPI handler behind the same gate as every procedure (trpc.ts admitCaller: session or token,
 * `read` scope) and the same service reads, so access and 404s are exactly those of the JSON read.
 */
import { AppError } from "../domain/errors.ts";
import { config } from "../config.ts";
import { log } from "../log.ts";
import type { ServiceContext } from "../services/context.ts";
import { downloadSerialLog, readSerialLog } from "../services/serial-log-service.ts";
import { ZSerialLogQuery } from "./schemas.ts";
import { PerUserStreams } from "./stream-slots.ts";
import { admitCaller, appErrorHttp, createContext } from "./trpc.ts";

const PATH = /^\/vms\/([^/]+)\/serial-log$/;
/** A follower polls for new output this often, and is re-authenticated every REAUTH_MS. */
const FOLLOW_POLL_MS = 1_000;
const REAUTH_MS = 30_000;
const HEARTBEAT_MS = 15_000;
/** A follow stream ends after this long; the client reconnects with `after` = the last `end` it saw. */
const FOLLOW_MAX_MS = 3_600_000;

function error(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status });
}

/** The response for a download or follow request, or null when `below` / the query is for the JSON read. */
export async function serialLogHttp(req: Request, below: string): Promise<Response | null> {
  const match = PATH.exec(below);
  const url = new URL(req.url);
  const download = url.searchParams.get("download") === "1";
  const follow = url.searchParams.get("follow") === "1";
  if (!match || (req.method !== "GET" && req.method !== "HEAD") || (!download && !follow)) return null;
  const parsed = ZSerialLogQuery.safeParse({ ...Object.fromEntries(url.searchParams), id: match[1] });
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join(".") || "(query)"}: ${i.message}`).join("; ");
    return error(400, "BAD_REQUEST", `invalid input: ${message}`);
  }
  const ctx = await createContext({ req });
  try {
    const svc = await admitCaller(ctx, { scope: "read", read: true });
    if (download) {
      const file = await downloadSerialLog(svc, parsed.data.id);
      return new Response(req.method === "HEAD" ? null : new Uint8Array(file.bytes), {
        headers: {
          "content-type": "text/plain; charset=utf-8",
          "content-disposition": `attachment; filename="${file.filename}"`,
          "content-length": String(file.bytes.length),
          "x-vmdesk-serial-end": String(file.end),
          "cache-control": "no-store",
        },
      });
    }
    const release = followers.take(svc.actor.id);
    try {
      const first = await readSerialLog(svc, parsed.data.id, parsed.data);
      return followStream(svc, parsed.data.id, first, req.signal, release, ctx.stillAuthenticated);
    } catch (err) {
      release();
      throw err;
    }
  } catch (err) {
    if (err instanceof AppError) {
      const mapped = appErrorHttp(err.code);
      return error(mapped.status, mapped.code, err.message);
    }
    log.error({ err, requestId: ctx.requestId }, "serial log request failed");
    return error(500, "INTERNAL_SERVER_ERROR", `internal error (request ${ctx.requestId})`);
  }
}

type Slice = Awaited<ReturnType<typeof readSerialLog>>;

/** Each follow stream holds a poll loop for up to FOLLOW_MAX_MS. */
const followers = new PerUserStreams("followed serial logs", () => config().VMDESK_SERIAL_FOLLOW_MAX_PER_USER);

/**
 * Server-sent events: the first slice, then each new piece of output as it is kept (id = its end
 * position, so `Last-Event-ID` semantics work with `after`). Ends when the client leaves, access is
 * lost (VM deleted, given away, credentials revoked) or after FOLLOW_MAX_MS.
 */
function followStream(svc: ServiceContext, vmId: string, first: Slice, signal: AbortSignal, release: () => void, stillAuthenticated?: () => Promise<boolean>): Response {
  const encoder = new TextEncoder();
  const started = Date.now();
  let timer: NodeJS.Timeout | null = null;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let end = first.end;
      let lastAuth = Date.now();
      let lastSent = Date.now();
      let closed = false;
      const send = (s: Slice) => {
        controller.enqueue(encoder.encode(`id: ${s.end}\ndata: ${JSON.stringify({ text: s.text, start: s.start, end: s.end, truncated: s.truncated })}\n\n`));
        lastSent = Date.now();
      };
      const close = () => {
        if (closed) return;
        closed = true;
        release();
        if (timer) clearTimeout(timer);
        try {
          controller.close();
        } catch {
          // already closed by the client
        }
      };
      signal.addEventListener("abort", close);
      send(first);
      const poll = async () => {
        if (closed) return;
        try {
          if (Date.now() - started > FOLLOW_MAX_MS) return close();
          if (stillAuthenticated && Date.now() - lastAuth > REAUTH_MS) {
            if (!(await stillAuthenticated())) return close();
            lastAuth = Date.now();
          }
          const next = await readSerialLog(svc, vmId, { after: end });
          if (next.end !== end) {
            end = next.end;
            send(next);
          } else if (Date.now() - lastSent > HEARTBEAT_MS) controller.enqueue(encoder.encode(": keepalive\n\n"));
        } catch {
          return close();
        }
        if (!closed) timer = setTimeout(() => void poll(), FOLLOW_POLL_MS);
      };
      timer = setTimeout(() => void poll(), FOLLOW_POLL_MS);
    },
    cancel() {
      release();
      if (timer) clearTimeout(timer);
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" } });
}
