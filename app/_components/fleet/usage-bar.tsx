import "./fleet.css";
import { usageTone } from "./usage";

/**
 * A horizontal bar with the percentage, coloured against an alert threshold (marked on the track):
 * amber as the value nears it, red above it.
 */
export function UsageBar({ label, pct, detail, thresholdPct, testId }: { label: string; pct: number | null; detail: string; thresholdPct: number; testId: string }) {
  const tone = usageTone(pct, thresholdPct);
  return (
    <div className="usage-bar" data-testid={testId} data-pct={pct === null ? "" : pct.toFixed(1)} data-tone={tone} data-threshold={thresholdPct}>
      <div className="quota-label">
        <span>{label}</span>
        <span className="quota-num">
          {detail}
          {pct === null ? null : <strong className={`usage-pct usage-${tone}`}> {pct.toFixed(0)} %</strong>}
        </span>
      </div>
      <div
        className="usage-track"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct === null ? undefined : Math.round(pct)}
        title={`alert above ${thresholdPct} %`}
      >
        <div className={`usage-fill usage-${tone}`} style={{ width: `${pct ?? 0}%` }} />
        <div className="usage-mark" style={{ left: `${Math.min(100, thresholdPct)}%` }} aria-hidden="true" />
      </div>
    </div>
  );
}
