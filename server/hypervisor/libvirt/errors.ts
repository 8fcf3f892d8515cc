/**
 * Turns native rejections into HypervisorError, keeping libvirt's own error number and domain so
 * callers branch on VIR_ERR codes, never on message text.
 */
import { HypervisorError } from "../driver.ts";

/** libvirt's virErrorNumber/virErrorDomain, or 0 for our own native errors ("not connected", "connection closed"). */
function codes(err: unknown): { code: number; domain: number; message: string } {
  const e = err as { code?: unknown; domain?: unknown; message?: unknown } | null;
  return {
    code: typeof e?.code === "number" ? e.code : 0,
    domain: typeof e?.domain === "number" ? e.domain : 0,
    message: typeof e?.message === "string" ? e.message : String(err),
  };
}

/**
 * A native rejection as HypervisorError: kind "libvirt" with the real code when libvirt reported
 * it, "disconnected" when the connection was gone (native code 0, or `connectionLost`).
 */
export function toHypervisorError(err: unknown, context: string, connectionLost = false): HypervisorError {
  if (err instanceof HypervisorError) return err;
  const { code, domain, message } = codes(err);
  if (code === 0 || connectionLost) return new HypervisorError("disconnected", `${context}: ${message}`);
  return new HypervisorError("libvirt", `${context}: ${message}`, code, domain);
}

/** True when `err` is a libvirt error with one of `codes`. */
export function hasCode(err: unknown, ...wanted: number[]): boolean {
  return err instanceof HypervisorError && err.kind === "libvirt" && wanted.includes(err.code);
}
