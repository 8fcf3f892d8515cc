/**
 * Reading a VM's serial log: what the leader's collector (server/jobs/serial-log-collector.ts) kept in
 * VmSerialLog. Reads are scoped like every VM read (someone else's VM is 404) and bounded by what is
 * kept: at most two segments of VMDESK_SERIAL_LOG_MAX_BYTES.
 */
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { SERIAL_TAIL_DEFAULT_BYTES, SERIAL_TAIL_MAX_LINES, sliceSerial, type SerialQuery, type SerialSegments } from "../domain/serial-log.ts";
import type { ServiceContext } from "./context.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";

export interface TSerialLogQuery {
  /** The last this many bytes. */
  tail?: number;
  /** How `tail` counts: bytes (default) or lines. */
  unit?: "bytes" | "lines";
  /** Everything after this stream position (a follower's cursor: the `end` of its previous read). */
  after?: number;
}

const EMPTY: SerialSegments = { current: Buffer.alloc(0), previous: Buffer.alloc(0), end: 0 };

/** The VM's kept serial output, or 404 when it is not the actor's to read. */
async function loadSerial(ctx: ServiceContext, vmId: string): Promise<{ vm: { id: string; name: string }; log: SerialSegments }> {
  const vm = await ctx.db.vm.findFirst({ where: { id: vmId, deletedAt: null, ...vmScope(ctx.actor) }, select: { id: true, name: true, ...vmAccessSelect } });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  authorize(ctx.actor, "vm.read", vmTarget(vm));
  const row = await ctx.db.vmSerialLog.findUnique({ where: { vmId }, select: { current: true, previous: true, end: true } });
  const log = row ? { current: Buffer.from(row.current), previous: Buffer.from(row.previous), end: Number(row.end) } : EMPTY;
  return { vm: { id: vm.id, name: vm.name }, log };
}

/**
 * A slice of the serial log as text (UTF-8, invalid bytes replaced): the tail (64 KiB unless asked
 * otherwise), or what came after `after`. `start`/`end` are stream positions; pass `end` as the
 * next `after` to follow. `truncated`: older output was rotated away.
 */
export async function readSerialLog(ctx: ServiceContext, vmId: string, q: TSerialLogQuery = {}) {
  if (q.unit === "lines" && (q.tail ?? 0) > SERIAL_TAIL_MAX_LINES) throw new AppError("BAD_REQUEST", `tail: at most ${SERIAL_TAIL_MAX_LINES} lines`, { field: "tail" });
  const { log } = await loadSerial(ctx, vmId);
  const query: SerialQuery = q.after !== undefined ? { after: q.after } : q.unit === "lines" ? { tailLines: q.tail ?? 100 } : { tailBytes: q.tail ?? SERIAL_TAIL_DEFAULT_BYTES };
  const s = sliceSerial(log, query);
  return { text: s.bytes.toString("utf8"), bytes: s.bytes.length, start: s.start, end: s.end, truncated: s.truncated, kept: log.current.length + log.previous.length };
}

/** The whole kept log (rotated segment first) as raw bytes, for download. */
export async function downloadSerialLog(ctx: ServiceContext, vmId: string): Promise<{ bytes: Buffer; filename: string; end: number }> {
  const { vm, log } = await loadSerial(ctx, vmId);
  const safe = vm.name.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60) || "vm";
  return { bytes: Buffer.concat([log.previous, log.current]), filename: `${safe}-${vm.id.slice(0, 8)}-serial.log`, end: log.end };
}
