import { Spinner } from "./ui";

const TONE: Record<string, string> = {
  running: "green",
  stopped: "grey",
  paused: "amber",
  error: "red",
  missing: "red",
  unknown: "amber",
  provisioning: "blue",
  deleting: "blue",
  deleted: "grey",
};

/** VM state, with the guest's own readiness for running VMs ("running · booting" / "running · ready"). */
export function StateBadge({ state, guestReadyAt }: { state: string; guestReadyAt?: Date | null }) {
  const tone = TONE[state] ?? "grey";
  const busy = state === "provisioning" || state === "deleting";
  const readiness = state === "running" ? (guestReadyAt ? "ready" : "booting") : null;
  return (
    <span className={`badge badge-${tone}`} data-testid="vm-state" data-state={state} data-guest={readiness ?? undefined}>
      {busy ? <Spinner /> : <span className="badge-dot" aria-hidden="true" />}
      {state}
      {readiness ? <span className="badge-sub"> · {readiness}</span> : null}
    </span>
  );
}

export function StatusPill({ status }: { status: string }) {
  const tone =
    status === "succeeded" || status === "ok" || status === "connected" || status === "up" || status === "resolved"
      ? "green"
      : status === "failed" || status === "error" || status === "denied" || status === "disconnected" || status === "down" || status === "firing"
        ? "red"
        : status === "degraded"
          ? "amber"
          : status === "running"
            ? "blue"
            : "grey";
  return (
    <span className={`pill pill-${tone}`} data-testid="status-pill" data-status={status}>
      {status === "running" ? <Spinner /> : null}
      {status}
    </span>
  );
}
