/**
 * A host's fleet state, derived (never stored) from what an admin set and what the monitor saw, so
 * the two can never disagree: `disabled` and `maintenance` are admin choices and win; a host the
 * monitor cannot reach (or has not reached yet) is `down`; one that answers but reported a problem
 * with itself (its storage pool, say) is `degraded`: it still takes VMs, after every `up` host.
 */
import type { HostState } from "./placement.ts";

export type HostConnectionState = "unknown" | "connected" | "disconnected";

export function fleetState(host: { enabled: boolean; maintenance: boolean; state: HostConnectionState; lastError: string | null }): HostState {
  if (!host.enabled) return "disabled";
  if (host.maintenance) return "maintenance";
  if (host.state !== "connected") return "down";
  return host.lastError ? "degraded" : "up";
}
