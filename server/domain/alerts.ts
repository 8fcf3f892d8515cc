/**
 * Threshold alerts (pure). A host's metric crosses its threshold when every reading of the last
 * `windowS` seconds is above it (sustained, not one spike), and clears only when every reading of a
 * window is below the threshold minus `hysteresisPct` (so a value hovering at the line does not
 * flap). Fewer readings than the window needs (a new host, a gap) decide nothing.
 */

export const ALERT_METRICS = ["cpu", "memory", "disk"] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export interface Threshold {
  /** Percent (0–100) above which the metric is alarming. */
  abovePct: number;
  /** The condition must hold for this long (seconds). */
  windowS: number;
}

export type Thresholds = Record<AlertMetric, Threshold>;

/** The seed article's numbers: CPU > 80 %, memory > 85 %, disk > 90 %, each for a minute. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  cpu: { abovePct: 80, windowS: 60 },
  memory: { abovePct: 85, windowS: 60 },
  disk: { abovePct: 90, windowS: 60 },
};

/** How far below the threshold a metric must fall to clear. */
export const HYSTERESIS_PCT = 5;

export interface Reading {
  at: Date;
  /** Percent, 0–100; null when this reading does not have the metric (e.g. no disk figure). */
  value: number | null;
}

export type Verdict = "fire" | "clear" | "hold";

/**
 * What the readings say about an alert that is currently `open` or not. `now` bounds the window.
 * The readings must cover the whole window: the oldest used reading is at most one reading interval
 * after the window's start (`intervalS`), or the verdict is "hold".
 */
export function evaluate(readings: Reading[], t: Threshold, open: boolean, now: Date, intervalS: number): Verdict {
  const from = now.getTime() - t.windowS * 1000;
  const inWindow = readings.filter((r) => r.at.getTime() > from && r.at.getTime() <= now.getTime() && r.value !== null);
  if (inWindow.length === 0) return "hold";
  const oldest = Math.min(...inWindow.map((r) => r.at.getTime()));
  if (oldest - from > intervalS * 1000 * 1.5) return "hold"; // the window is not covered yet
  const values = inWindow.map((r) => r.value as number);
  if (!open && values.every((v) => v > t.abovePct)) return "fire";
  if (open && values.every((v) => v < t.abovePct - HYSTERESIS_PCT)) return "clear";
  return "hold";
}

/** Per-host overrides over the global thresholds (each metric and field may be overridden alone). */
export function effectiveThresholds(global: Thresholds, host: Partial<Record<AlertMetric, Partial<Threshold>>> | null | undefined): Thresholds {
  const out = { ...global };
  for (const m of ALERT_METRICS) out[m] = { ...global[m], ...(host?.[m] ?? {}) };
  return out;
}

/** Webhook signature: hex HMAC-SHA256 of the body, sent as `X-Vmdesk-Signature: sha256=<hex>`. */
export const SIGNATURE_HEADER = "x-vmdesk-signature";

/** Delay before webhook attempt `n` (1-based) is retried: 2, 4, 8 … s, at most 5 minutes. */
export function webhookBackoffMs(attempt: number): number {
  return Math.min(300_000, 2_000 * 2 ** Math.max(0, attempt - 1));
}
export const WEBHOOK_MAX_ATTEMPTS = 10;

/** The metrics as alert texts name them. */
export const ALERT_METRIC_LABELS: Record<AlertMetric, string> = { cpu: "CPU", memory: "memory", disk: "storage pool" };

/** The alert fields an e-mail shows. */
export interface AlertFacts {
  id: string;
  kind: string;
  subject: string;
  message: string;
  value: number | null;
  threshold: number | null;
  firedAt: Date;
  resolvedAt: Date | null;
}

/** An alert e-mail as built when the alert fired or resolved, stored with its delivery and sent as is. */
export interface AlertMail {
  subject: string;
  text: string;
  /** Stable per alert and event, so a retried message can be recognised as the same one. */
  messageId: string;
  /** The "fired" message a "resolved" one answers, so mail clients thread the two. */
  inReplyTo: string | null;
}

const MAIL_SUBJECT_MAX = 200;

/**
 * `s` on one line of at most `max` characters: every run of control characters (CR, LF, tab, C1,
 * line and paragraph separators) becomes one space. Alert texts carry host names and libvirt errors,
 * which admins and hosts choose; on one line they cannot end a header and start another.
 */
export function oneLine(s: string, max: number): string {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

const metricOf = (kind: string) => ALERT_METRICS.find((m) => kind === `host.${m}`);

/** What the alert is about, the same words whether it fires or resolves ("CPU of host lab1 above 80 %"). */
function alertSummary(a: AlertFacts): string {
  const metric = metricOf(a.kind);
  if (metric && a.threshold !== null) return `${ALERT_METRIC_LABELS[metric]} of ${a.subject} above ${a.threshold} %`;
  if (a.kind === "host.down") return `${a.subject} is down`;
  if (a.kind === "operation.stuck") return `${a.subject} stuck in the queue`;
  return a.message;
}

/**
 * The e-mail for an alert that fired or resolved: subject "[vmdesk] FIRING: <summary>" or
 * "[vmdesk] RESOLVED: <summary>" (one line, bounded), a plain-text body with the alert's facts and
 * the Alerts page. `domain` names the sender's domain in the Message-ID.
 */
export function alertMail(a: AlertFacts, event: "fired" | "resolved", opts: { alertsUrl: string; domain: string }): AlertMail {
  const state = event === "fired" ? "FIRING" : "RESOLVED";
  const summary = oneLine(alertSummary(a), MAIL_SUBJECT_MAX);
  const unit = metricOf(a.kind) ? " %" : "";
  const lines = [
    `${state}: ${summary}`,
    "",
    a.message.replace(/\r\n?/g, "\n"),
    "",
    `Kind:      ${oneLine(a.kind, 100)}`,
    `Subject:   ${oneLine(a.subject, 200)}`,
    ...(a.value !== null ? [`Value:     ${a.value.toFixed(1)}${unit}`] : []),
    ...(a.threshold !== null ? [`Threshold: ${a.threshold}${unit}`] : []),
    `Fired:     ${a.firedAt.toISOString()}`,
    ...(a.resolvedAt ? [`Resolved:  ${a.resolvedAt.toISOString()}`] : []),
    `Alert:     ${a.id}`,
    "",
    `Alerts page: ${opts.alertsUrl}`,
    "",
  ];
  const id = (e: string) => `<alert-${a.id}.${e}@${opts.domain}>`;
  return { subject: oneLine(`[vmdesk] ${state}: ${summary}`, MAIL_SUBJECT_MAX), text: lines.join("\n"), messageId: id(event), inReplyTo: event === "resolved" ? id("fired") : null };
}
