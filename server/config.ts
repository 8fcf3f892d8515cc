/**
 * Environment configuration, validated once with zod. Every variable is documented in README.md
 * ("Configuration"); defaults are what a single-machine install wants.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";

/** At most this many alert e-mail recipients (one message goes to all of them). */
export const ALERT_EMAIL_MAX_RECIPIENTS = 20;

/** An SMTP server as VMDESK_SMTP_URL names it. */
export interface SmtpServer {
  host: string;
  port: number;
  /** smtps: TLS from the first byte; smtp: STARTTLS when the server offers it (required with credentials). */
  secure: boolean;
  auth: { user: string; pass: string } | null;
}

/**
 * `smtp://[user:password@]host[:port]` or `smtps://…` (user and password percent-encoded), nothing
 * after the port; null when it is not that. Ports default as nodemailer's do: 587, and 465 for smtps.
 */
export function parseSmtpUrl(raw: string): SmtpServer | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (u.protocol !== "smtp:" && u.protocol !== "smtps:") return null;
  if (!u.hostname || (u.pathname !== "" && u.pathname !== "/") || u.search || u.hash) return null;
  if (Boolean(u.username) !== Boolean(u.password)) return null;
  const secure = u.protocol === "smtps:";
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : null,
  };
}

const ZEmailList = z
  .string()
  .transform((s) => s.split(",").map((a) => a.trim()).filter(Boolean))
  .pipe(z.array(z.email()).min(1).max(ALERT_EMAIL_MAX_RECIPIENTS));

const ZEnv = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  VMDESK_DATA_DIR: z.string().default(".vmdesk"),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  NEXTAUTH_URL: z.string().url().optional(),
  NEXTAUTH_SECRET: z.string().min(16).optional(),
  VMDESK_WORKER: z.enum(["inprocess", "off"]).default("inprocess"),
  VMDESK_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  VMDESK_HOST_CALL_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  VMDESK_RUNNING_WEIGHT_DIVISOR: z.coerce.number().int().min(1).max(512).default(1),
  VMDESK_RELIST_INTERVAL_MS: z.coerce.number().int().min(200).default(5_000),
  VMDESK_OPERATION_STALE_MS: z.coerce.number().int().min(1000).default(30_000),
  VMDESK_SHUTDOWN_TIMEOUT_S: z.coerce.number().int().min(1).default(60),
  VMDESK_SESSION_MAX_AGE_S: z.coerce.number().int().min(60).default(8 * 3600),
  VMDESK_SESSION_ABSOLUTE_S: z.coerce.number().int().min(60).default(8 * 3600),
  VMDESK_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).default(30),
  VMDESK_TOKENS_MAX_PER_USER: z.coerce.number().int().min(1).max(1000).default(20),
  VMDESK_SIGNIN_LIMIT_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
  VMDESK_SIGNIN_LIMIT_PER_ADDRESS: z.coerce.number().int().min(1).default(60),
  VMDESK_SIGNIN_WINDOW_S: z.coerce.number().int().min(1).default(300),
  VMDESK_CONSOLE_TICKET_TTL_S: z.coerce.number().int().min(1).max(60).default(30),
  VMDESK_CONSOLE_IDLE_TIMEOUT_S: z.coerce.number().int().min(1).default(1800),
  VMDESK_CONSOLE_MAX_SESSION_S: z.coerce.number().int().min(1).default(8 * 3600),
  VMDESK_CONSOLE_MAX_PER_USER: z.coerce.number().int().min(1).default(10),
  VMDESK_CONSOLE_MAX_PER_VM: z.coerce.number().int().min(1).default(8),
  VMDESK_CONSOLE_PING_S: z.coerce.number().int().min(1).default(15),
  VMDESK_CONSOLE_MAX_TOTAL: z.coerce.number().int().min(1).default(256),
  VMDESK_SCHEDULER_INTERVAL_MS: z.coerce.number().int().min(200).default(15_000),
  /** One segment of a VM's kept serial log; one rotated segment is kept besides (so 2 × this in all). */
  VMDESK_SERIAL_LOG_MAX_BYTES: z.coerce.number().int().min(4096).max(16 * 1024 * 1024).default(1024 * 1024),
  VMDESK_SERIAL_LOG_INTERVAL_MS: z.coerce.number().int().min(200).max(60_000).default(1_000),
  /** Open `follow=1` serial-log streams per user in one portal process: each polls every second for an hour. */
  VMDESK_SERIAL_FOLLOW_MAX_PER_USER: z.coerce.number().int().min(1).max(1000).default(8),
  /** Open live views (tRPC subscriptions: dashboard, VM pages) per user in one portal process. */
  VMDESK_LIVE_STREAMS_MAX_PER_USER: z.coerce.number().int().min(1).max(10_000).default(32),
  /** Host and VM metrics: one reading per host this often; raw rows kept this many hours, 5-minute averages this many days. */
  VMDESK_METRICS_INTERVAL_MS: z.coerce.number().int().min(1_000).default(10_000),
  /** An HA restart that could not happen (no capacity, a disk lease still held) is tried again after this many seconds. */
  VMDESK_HA_RETRY_S: z.coerce.number().int().min(1).default(60),
  VMDESK_METRICS_RAW_HOURS: z.coerce.number().int().min(1).default(24),
  VMDESK_METRICS_ROLLUP_DAYS: z.coerce.number().int().min(1).default(30),
  /** Alerts are POSTed here as JSON (http or https), signed with VMDESK_ALERT_WEBHOOK_SECRET when set. */
  VMDESK_ALERT_WEBHOOK_URL: z.string().url().regex(/^https?:\/\//, "http or https only").optional(),
  VMDESK_ALERT_WEBHOOK_SECRET: z.string().min(16).optional(),
  /** Alerts are e-mailed through this SMTP server to VMDESK_ALERT_EMAIL_TO (comma-separated); set both or neither. */
  VMDESK_SMTP_URL: z
    .string()
    .refine((s) => parseSmtpUrl(s) !== null, "smtp://[user:password@]host[:port] or smtps://…, nothing after the port")
    .optional(),
  VMDESK_ALERT_EMAIL_TO: ZEmailList.optional(),
  VMDESK_ALERT_EMAIL_FROM: z.email().optional(),
  /** Largest request body for REST and tRPC (bytes); sign-in routes have their own, smaller one. */
  VMDESK_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  VMDESK_AUTH_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(16 * 1024),
  /**
   * The only directory a host URI's credentials (`keyfile=`, `known_hosts=`, `pkipath=`) may lie in;
   * default `<data dir>/host-credentials` (created 0700 by the scripts that put credentials there).
   */
  VMDESK_HOST_KEYFILE_DIR: z.string().regex(/^\//, "must be an absolute path").optional(),
  /** Uploaded images: largest file (GiB), largest virtual disk (GiB), longest request (s), longest silence within one (s). */
  VMDESK_UPLOAD_MAX_GIB: z.coerce.number().positive().default(64),
  VMDESK_UPLOAD_MAX_VIRTUAL_GIB: z.coerce.number().positive().default(64),
  VMDESK_UPLOAD_TIMEOUT_S: z.coerce.number().int().min(1).default(3600),
  VMDESK_UPLOAD_IDLE_S: z.coerce.number().int().min(1).default(60),
  /** Unfinished uploads (uploading or validating) a tenant may hold: each is a row, a file and maybe a stream. */
  VMDESK_UPLOAD_MAX_OPEN_PER_USER: z.coerce.number().int().min(1).max(1000).default(8),
  /** An unfinished resumable upload untouched this long is deleted with its partial file. */
  VMDESK_UPLOAD_STALE_H: z.coerce.number().positive().default(24),
  /** `qemu-img info` on an uploaded file: wall-clock bound (s). */
  VMDESK_QEMU_IMG_TIMEOUT_S: z.coerce.number().int().min(1).default(30),
  /** Colon-separated directories images may be registered from (besides each host's pool). */
  VMDESK_IMAGE_DIRS: z.string().optional(),
  VMDESK_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
}).refine((e) => (e.VMDESK_SMTP_URL === undefined) === (e.VMDESK_ALERT_EMAIL_TO === undefined), {
  message: "alert e-mail needs both VMDESK_SMTP_URL and VMDESK_ALERT_EMAIL_TO",
  path: ["VMDESK_ALERT_EMAIL_TO"],
});

/** Alert e-mail, on when VMDESK_SMTP_URL and VMDESK_ALERT_EMAIL_TO are set. */
export interface AlertEmailConfig {
  server: SmtpServer;
  to: string[];
  /** VMDESK_ALERT_EMAIL_FROM, default vmdesk@<this machine's hostname>. */
  from: string;
}

export type Config = z.infer<typeof ZEnv> & { dataDir: string; imageDirs: string[]; hostCredentialsDir: string; alertEmail: AlertEmailConfig | null };

let cached: Config | undefined;

export function config(): Config {
  if (!cached) {
    const parsed = ZEnv.parse(process.env);
    const dataDir = path.resolve(parsed.VMDESK_DATA_DIR);
    const imageDirs = parsed.VMDESK_IMAGE_DIRS ? parsed.VMDESK_IMAGE_DIRS.split(":").filter(Boolean).map((d) => path.resolve(d)) : [path.join(dataDir, "images")];
    const hostCredentialsDir = parsed.VMDESK_HOST_KEYFILE_DIR ?? path.join(dataDir, "host-credentials");
    const smtp = parsed.VMDESK_SMTP_URL ? parseSmtpUrl(parsed.VMDESK_SMTP_URL) : null;
    const alertEmail = smtp && parsed.VMDESK_ALERT_EMAIL_TO ? { server: smtp, to: parsed.VMDESK_ALERT_EMAIL_TO, from: parsed.VMDESK_ALERT_EMAIL_FROM ?? `vmdesk@${os.hostname()}` } : null;
    cached = { ...parsed, dataDir, imageDirs, hostCredentialsDir, alertEmail };
  }
  return cached;
}

/** The origin users open (NEXTAUTH_URL; server/main.ts defaults it to http://localhost:PORT). */
export function publicUrl(): string {
  const c = config();
  return new URL(c.NEXTAUTH_URL ?? `http://localhost:${c.PORT}`).origin;
}

/** Tests change the environment between suites. */
export function resetConfigForTests(): void {
  cached = undefined;
}
