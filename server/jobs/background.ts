/**
 * Everything that runs behind the requests: the operation worker (any number of processes), and —
 * in exactly one process at a time, elected with a PostgreSQL advisory lock — the host monitors,
 * the metrics collector, alerts and their webhooks and e-mails, the reaper and the reconciler.
 * `server/main.ts` starts it in-process by default; `npm run worker` runs it alone for scale-out.
 */
import pg from "pg";
import { config } from "../config.ts";
import { databaseUrl, db } from "../db/client.ts";
import type { HypervisorDriver } from "../hypervisor/driver.ts";
import { HostPool } from "../hypervisor/host-pool.ts";
import { log } from "../log.ts";
import { purgeExpiredRateLimits } from "../services/rate-limit.ts";
import { purgeStaleUploads } from "../services/upload-service.ts";
import { systemClock, type Clock } from "./clock.ts";
import { HostMonitor } from "./host-monitor.ts";
import { AlertEmailSender, alertEmailSettings } from "./alert-email.ts";
import { AlertEvaluator, WebhookSender } from "./alerts.ts";
import { MetricsCollector } from "./metrics-collector.ts";
import { reapStaleOperations } from "./reaper.ts";
import { reconcileOnce } from "./reconciler.ts";
import { HaManager } from "./ha.ts";
import { LoadBalancer } from "./load-balancer.ts";

/** Down hosts are looked for every second: HA restarts must begin within seconds of the host going down. */
const HA_TICK_MS = 1_000;
/** Viewers past their time and exports to write are looked for this often. */
const SUBMISSIONS_TICK_MS = 2_000;
import { runSchedules } from "./scheduler.ts";
import { runLeases } from "./leases.ts";
import { SerialLogCollector } from "./serial-log-collector.ts";
import { SubmissionJobs } from "./submissions.ts";
import { Worker } from "./worker.ts";

/** The session-level advisory lock whose holder leads (visible in pg_locks: classid 0, objid this). */
export const LEADER_LOCK_KEY = 0x766d_6465; // "vmde"
const RECONCILE_EVERY_MS = 60_000;
const HOUSEKEEPING_EVERY_MS = 60_000;

export interface Background {
  hosts: HostPool;
  worker: Worker;
  stop(): Promise<void>;
}

/** The host connections of this process, shared by the background jobs and the console proxy. */
export async function createHostPool(driver?: HypervisorDriver): Promise<HostPool> {
  // The native binding is loaded only here (never by code Next bundles).
  const d = driver ?? (await import("../hypervisor/libvirt/libvirt-host.ts")).libvirtDriver;
  const cfg = config();
  return new HostPool(d, cfg.VMDESK_HOST_CALL_TIMEOUT_MS, { runningWeightDivisor: cfg.VMDESK_RUNNING_WEIGHT_DIVISOR });
}

/**
 * Starts the worker and the leader election. Pass `hosts` to share this process's pool (e.g. with the
 * console proxy); its owner then closes it. Without one, a pool is created and closed on stop().
 */
export async function startBackground(options: { driver?: HypervisorDriver; clock?: Clock; hosts?: HostPool } = {}): Promise<Background> {
  const cfg = config();
  const clock = options.clock ?? systemClock;
  const hosts = options.hosts ?? (await createHostPool(options.driver));
  const ownsHosts = options.hosts === undefined;
  const worker = new Worker({ db: db(), hosts, clock, concurrency: cfg.VMDESK_WORKER_CONCURRENCY, defaultShutdownTimeoutS: cfg.VMDESK_SHUTDOWN_TIMEOUT_S });
  const monitor = new HostMonitor(db(), hosts, clock, cfg.VMDESK_RELIST_INTERVAL_MS);
  const webhook = { url: cfg.VMDESK_ALERT_WEBHOOK_URL, secret: cfg.VMDESK_ALERT_WEBHOOK_SECRET };
  const email = alertEmailSettings();
  const alerts = new AlertEvaluator(db(), clock, cfg.VMDESK_METRICS_INTERVAL_MS, webhook, email);
  const webhooks = new WebhookSender(db(), clock, webhook);
  const emails = new AlertEmailSender(db(), clock, email);
  const ha = new HaManager(db(), clock, { retryMs: cfg.VMDESK_HA_RETRY_S * 1000 });
  const balancer = new LoadBalancer(db(), clock, cfg.VMDESK_METRICS_INTERVAL_MS);
  const serialLogs = new SerialLogCollector(db(), hosts, clock, { capBytes: cfg.VMDESK_SERIAL_LOG_MAX_BYTES, intervalMs: cfg.VMDESK_SERIAL_LOG_INTERVAL_MS });
  const metrics = new MetricsCollector(db(), hosts, clock, cfg.VMDESK_METRICS_INTERVAL_MS, { rawHours: cfg.VMDESK_METRICS_RAW_HOURS, rollupDays: cfg.VMDESK_METRICS_ROLLUP_DAYS });
  const submissions = new SubmissionJobs(db(), clock, cfg.dataDir);
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  let leaderClient: pg.Client | null = null;

  /** Leader housekeeping: deletes what only piles up, i.e. rate-limit rows whose window has ended and stale uploads. */
  const housekeeping = () =>
    Promise.all([
      purgeExpiredRateLimits(db(), clock.now()).then(() => undefined, (err) => log.error({ err }, "rate-limit purge failed")),
      purgeStaleUploads(db(), clock.now()).then(() => undefined, (err) => log.error({ err }, "stale upload purge failed")),
    ]).then(() => undefined);

  const becomeLeader = async () => {
    if (stopped || leaderClient) return;
    const client = new pg.Client({ connectionString: databaseUrl() });
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [LEADER_LOCK_KEY]);
      if (!rows[0]?.ok) {
        await client.end();
        return;
      }
      leaderClient = client;
      client.on("error", () => {
        // Lost the session and with it the lock: stand down; a later attempt may win again.
        leaderClient = null;
        monitor.stop();
        metrics.stop();
        serialLogs.stop();
      });
      log.info("this process runs the host monitors, reaper and reconciler");
      monitor.start();
      metrics.start();
      serialLogs.start();
      await reapStaleOperations(db(), clock, cfg.VMDESK_OPERATION_STALE_MS);
      await housekeeping();
      void reconcileOnce(db(), hosts).catch((err) => log.error({ err }, "reconcile failed"));
    } catch (err) {
      log.warn({ err }, "leader election failed");
      await client.end().catch(() => undefined);
    }
  };

  await becomeLeader();
  timers.push(setInterval(() => void becomeLeader(), 5_000));
  timers.push(
    setInterval(() => {
      if (leaderClient) void reapStaleOperations(db(), clock, cfg.VMDESK_OPERATION_STALE_MS).catch((err) => log.error({ err }, "reaper failed"));
    }, Math.max(1_000, Math.floor(cfg.VMDESK_OPERATION_STALE_MS / 3))),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void reconcileOnce(db(), hosts).catch((err) => log.error({ err }, "reconcile failed"));
    }, RECONCILE_EVERY_MS),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void housekeeping();
    }, HOUSEKEEPING_EVERY_MS),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void alerts.evaluateOnce().catch((err) => log.error({ err }, "alert evaluation failed"));
    }, cfg.VMDESK_METRICS_INTERVAL_MS),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void balancer.tick().catch((err) => log.error({ err }, "load balancing failed"));
    }, cfg.VMDESK_METRICS_INTERVAL_MS),
  );
  timers.push(
    setInterval(() => {
      if (!leaderClient) return;
      void ha
        .tick()
        .catch((err) => log.error({ err }, "HA pass failed"))
        .then(() => alerts.evaluateHa())
        .catch((err) => log.error({ err }, "HA alert evaluation failed"));
    }, HA_TICK_MS),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void webhooks.sendDue().catch((err) => log.error({ err }, "webhook delivery failed"));
      if (leaderClient) void emails.sendDue().catch((err) => log.error({ err }, "alert e-mail delivery failed"));
    }, 2_000),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void runSchedules(db(), clock).catch((err) => log.error({ err }, "class schedules failed"));
      if (leaderClient) void runLeases(db(), clock).catch((err) => log.error({ err }, "leases failed"));
    }, cfg.VMDESK_SCHEDULER_INTERVAL_MS),
  );
  timers.push(
    setInterval(() => {
      if (leaderClient) void submissions.tick().catch((err) => log.error({ err }, "submissions sweep failed"));
    }, SUBMISSIONS_TICK_MS),
  );
  worker.start();

  return {
    hosts,
    worker,
    async stop() {
      stopped = true;
      timers.forEach(clearInterval);
      monitor.stop();
      metrics.stop();
      serialLogs.stop();
      await worker.stop();
      await submissions.idle();
      await leaderClient?.end().catch(() => undefined);
      leaderClient = null;
      if (ownsHosts) await hosts.closeAll();
    },
  };
}
