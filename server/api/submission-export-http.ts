/**
 * `GET /api/v1/classes/{id}/submissions/exports/{exportId}/download`: a ready submission export as a
 * tar stream (one qcow2 per student), sent as it is read from the files the jobs side wrote, never
 * held in memory. Same gate as every procedure (trpc.ts admitCaller: session or token, `read` scope)
 * and the same service checks (`submission.view` on the class), so another teacher's export is 404.
 */
import { Readable } from "node:stream";
import { AppError } from "../domain/errors.ts";
import { log } from "../log.ts";
import { downloadSubmissionExport } from "../services/submission-service.ts";
import { admitCaller, appErrorHttp, createContext } from "./trpc.ts";

const PATH = /^\/classes\/([0-9a-f-]{36})\/submissions\/exports\/([0-9a-f-]{36})\/download$/;

function error(status: number, code: string, message: string): Response {
  return Response.json({ code, message }, { status });
}

/** The download, or null when `below` is not its path. */
export async function submissionExportHttp(req: Request, below: string): Promise<Response | null> {
  const match = PATH.exec(below);
  if (!match) return null;
  if (req.method !== "GET" && req.method !== "HEAD") return error(405, "METHOD_NOT_SUPPORTED", `${req.method} is not supported here; use GET`);
  const ctx = await createContext({ req });
  try {
    const svc = await admitCaller(ctx, { scope: "read", read: true });
    const file = await downloadSubmissionExport(svc, match[1]!, match[2]!);
    const headers = {
      "content-type": "application/x-tar",
      "content-disposition": `attachment; filename="${file.filename}"`,
      "content-length": String(file.size),
      "cache-control": "no-store",
    };
    if (req.method === "HEAD") return new Response(null, { headers });
    const stream = file.stream();
    // The client leaving stops the file reads.
    req.signal.addEventListener("abort", () => stream.destroy(), { once: true });
    return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, { headers });
  } catch (err) {
    if (err instanceof AppError) {
      const mapped = appErrorHttp(err.code);
      return error(mapped.status, mapped.code, err.message);
    }
    log.error({ err, requestId: ctx.requestId }, "submission export download failed");
    return error(500, "INTERNAL_SERVER_ERROR", `internal error (request ${ctx.requestId})`);
  }
}
