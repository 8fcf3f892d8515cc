/** Display helpers shared by pages. */

export function formatMiB(mib: number | null | undefined): string {
  if (mib === null || mib === undefined) return "—";
  if (mib >= 1024) {
    const gib = mib / 1024;
    return `${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB`;
  }
  return `${mib} MiB`;
}

export function formatGiB(gib: number | null | undefined): string {
  return gib === null || gib === undefined ? "—" : `${gib} GiB`;
}

const dateTime = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });

export function formatDateTime(d: Date | null | undefined): string {
  return d ? dateTime.format(d) : "—";
}

export function formatAgo(d: Date | null | undefined, now: number = Date.now()): string {
  if (!d) return "never";
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function formatDuration(from: Date | null, to: Date | null): string {
  if (!from) return "—";
  const ms = (to ?? new Date()).getTime() - from.getTime();
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function domainTypeLabel(domainType: string): string {
  return domainType === "kvm" ? "KVM" : domainType === "qemu" ? "TCG emulation" : domainType;
}
