import type { QuotaView } from "../_lib/trpc";
import { formatMiB } from "../_lib/format";

type Key = keyof QuotaView["limits"];

export const QUOTA_ROWS: { key: Key; label: string; format: (n: number) => string }[] = [
  { key: "vms", label: "VMs", format: (n) => String(n) },
  { key: "vcpus", label: "vCPUs", format: (n) => String(n) },
  { key: "memoryMiB", label: "Memory", format: formatMiB },
  { key: "diskGiB", label: "Disk", format: (n) => `${n} GiB` },
];

/** used / limit per resource; `adding` previews what a new VM would take. */
export function QuotaBars({ quota, adding, compact }: { quota: QuotaView; adding?: Partial<Record<Key, number>>; compact?: boolean }) {
  return (
    <div className={compact ? "quota quota-compact" : "quota"} data-testid="quota-usage">
      {QUOTA_ROWS.map(({ key, label, format }) => {
        const used = quota.used[key];
        const limit = quota.limits[key];
        const add = adding?.[key] ?? 0;
        const usedPct = limit > 0 ? Math.min(100, (used / limit) * 100) : used > 0 ? 100 : 0;
        const addPct = limit > 0 ? Math.min(100 - usedPct, (add / limit) * 100) : add > 0 ? 100 : 0;
        const over = used + add > limit;
        return (
          <div className="quota-row" key={key} data-testid={`quota-usage-${key}`} data-used={used} data-limit={limit}>
            <div className="quota-label">
              <span>{label}</span>
              <span className={over && add > 0 ? "quota-num over" : "quota-num"}>
                {format(used)}
                {add > 0 ? <span className="quota-add"> + {format(add)}</span> : null} / {format(limit)}
              </span>
            </div>
            <div className="quota-track" aria-hidden="true">
              <div className={usedPct >= 90 ? "quota-used high" : "quota-used"} style={{ width: `${usedPct}%` }} />
              {add > 0 ? <div className={over ? "quota-adding over" : "quota-adding"} style={{ width: `${over ? 100 - usedPct : addPct}%` }} /> : null}
            </div>
          </div>
        );
      })}
    </div>
  );
}
