/**
 * The browser side of a resumable upload: chunks PUT with Content-Range against an upload id, progress
 * from XMLHttpRequest, and after a dropped connection the server's offset (HEAD) says where to go on.
 */

const CHUNK_BYTES = 16 * 1024 * 1024;
const RETRIES = 20;

export interface UploadProgress {
  sent: number;
  total: number;
}

export class UploadRefused extends Error {}

function putChunk(id: string, file: Blob, start: number, onProgress: (sent: number) => void, signal: AbortSignal): Promise<{ status: number; body: unknown }> {
  const end = Math.min(file.size, start + CHUNK_BYTES);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/v1/images/uploads/${id}`);
    xhr.setRequestHeader("content-range", `bytes ${start}-${end - 1}/${file.size}`);
    xhr.upload.onprogress = (e) => onProgress(start + e.loaded);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new Error("network error"));
    xhr.ontimeout = () => reject(new Error("timed out"));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
    xhr.send(file.slice(start, end));
  });
}

/** Where the server has the upload (null when it cannot be asked right now). */
export async function serverOffset(id: string): Promise<number | null> {
  const res = await fetch(`/api/v1/images/uploads/${id}`, { method: "HEAD", cache: "no-store" }).catch(() => null);
  if (!res?.ok) return null;
  return Number(res.headers.get("upload-offset"));
}

/**
 * Sends `file` from `from` to the end. A refusal (4xx other than an offset mismatch) throws
 * UploadRefused with the server's reason; a dropped connection is retried from the server's offset.
 * Resolves with the created image.
 */
export async function sendFile(id: string, file: Blob, from: number, onProgress: (p: UploadProgress) => void, signal: AbortSignal): Promise<unknown> {
  let offset = from;
  let failures = 0;
  for (;;) {
    try {
      const { status, body } = await putChunk(id, file, offset, (sent) => onProgress({ sent, total: file.size }), signal);
      const b = body as { code?: string; message?: string; offset?: number; upload?: { offset: number }; image?: unknown } | null;
      if (status === 201) return b?.image;
      if (status === 200 && b?.upload) {
        offset = b.upload.offset;
        failures = 0;
        continue;
      }
      if (status === 409 && typeof b?.offset === "number") {
        offset = b.offset;
        continue;
      }
      if (status >= 400 && status < 500) throw new UploadRefused(b?.message ?? `refused (${status})`);
      throw new Error(b?.message ?? `server error ${status}`);
    } catch (err) {
      if (err instanceof UploadRefused || signal.aborted) throw err;
      if (++failures > RETRIES) throw err;
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** Math.min(failures, 5))));
      offset = (await serverOffset(id)) ?? offset;
      onProgress({ sent: offset, total: file.size });
    }
  }
}
