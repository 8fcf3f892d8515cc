/**
 * A VM's kept serial output (pure): two segments, `previous` and `current`, each at most `cap` bytes.
 * Appending past the cap rotates (current becomes previous, the old previous is dropped), so at most
 * 2 × cap bytes are ever kept and a guest flooding its console costs bounded space. Positions count
 * every byte kept since the log began: a follower asks for what came after the last position it saw.
 */

export const SERIAL_LOG_DEFAULT_CAP = 1024 * 1024;
/** Longest tail one request may ask for, in lines. */
export const SERIAL_TAIL_MAX_LINES = 10_000;
/** Default tail of a read that names none. */
export const SERIAL_TAIL_DEFAULT_BYTES = 64 * 1024;

export interface SerialSegments {
  current: Buffer;
  previous: Buffer;
  /** Stream position just after `current`. */
  end: number;
}

/**
 * `log` with `chunk` appended. A chunk larger than the cap keeps only its last `cap` bytes (in
 * `current`, the rest of it in `previous`), so the result always ends with the newest bytes.
 */
export function appendSerial(log: SerialSegments, chunk: Buffer, cap: number): SerialSegments {
  if (chunk.length === 0) return log;
  const end = log.end + chunk.length;
  if (log.current.length + chunk.length <= cap) return { current: Buffer.concat([log.current, chunk]), previous: log.previous, end };
  if (chunk.length <= cap) return { current: chunk, previous: log.current, end };
  const tail = chunk.subarray(chunk.length - cap);
  const before = chunk.subarray(Math.max(0, chunk.length - 2 * cap), chunk.length - cap);
  return { current: Buffer.from(tail), previous: Buffer.from(before), end };
}

/** Everything kept, oldest first, and the position of its first byte. */
export function keptSerial(log: SerialSegments): { bytes: Buffer; start: number } {
  const bytes = Buffer.concat([log.previous, log.current]);
  return { bytes, start: log.end - bytes.length };
}

export type SerialQuery = { tailBytes: number } | { tailLines: number } | { after: number };

/**
 * The slice a reader asked for, bounded by what is kept: the last `tailBytes` bytes, the last
 * `tailLines` lines (a trailing partial line counts as one), or everything after position `after`
 * (from the oldest kept byte when `after` has been rotated away; `truncated` says so).
 */
export function sliceSerial(log: SerialSegments, q: SerialQuery): { bytes: Buffer; start: number; end: number; truncated: boolean } {
  const { bytes, start } = keptSerial(log);
  let from: number;
  if ("after" in q) from = Math.max(0, Math.min(bytes.length, q.after - start));
  else if ("tailBytes" in q) from = Math.max(0, bytes.length - Math.max(0, q.tailBytes));
  else from = tailLinesFrom(bytes, q.tailLines);
  const truncated = "after" in q ? q.after < start : from === 0 && start > 0;
  return { bytes: bytes.subarray(from), start: start + from, end: log.end, truncated };
}

/** Index where the last `lines` lines of `bytes` begin. */
function tailLinesFrom(bytes: Buffer, lines: number): number {
  if (lines <= 0) return bytes.length;
  let i = bytes.length;
  // A final newline ends the last line rather than starting an empty one.
  if (i > 0 && bytes[i - 1] === 0x0a) i--;
  let seen = 0;
  while (i > 0) {
    const nl = bytes.lastIndexOf(0x0a, i - 1);
    if (nl < 0) return 0;
    seen++;
    if (seen === lines) return nl + 1;
    i = nl;
  }
  return 0;
}

/**
 * Where a collector resumes reading a source that only grows (a host's log file): from `offset`, or
 * from 0 when the source was replaced or truncated (the guest restarted), skipping ahead so that at
 * most `keep` bytes are read when it fell further behind.
 */
export function readWindow(source: { key: string; size: number }, last: { key: string | null; offset: number }, keep: number): { from: number; to: number } {
  const offset = last.key === source.key && last.offset <= source.size ? last.offset : 0;
  return { from: Math.max(offset, source.size - keep), to: source.size };
}
