import type { LiveStatus } from "./use-live";

const TEXT: Record<LiveStatus, string> = { live: "Live", connecting: "Connecting…", offline: "Live updates interrupted: retrying" };

export function LiveIndicator({ status }: { status: LiveStatus }) {
  return (
    <span className={`live live-${status}`} data-testid="live-status" data-live={status} title="Updates arrive without reloading">
      <span className="live-dot" aria-hidden="true" />
      {TEXT[status]}
    </span>
  );
}
