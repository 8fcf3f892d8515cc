/**
 * The operation worker. Claims queued operations with FOR UPDATE SKIP LOCKED (any number of worker
 * processes can share the queue), runs their handlers with a heartbeat, and records the outcome.
 * Transient host failures (timeouts, lost connections) are retried with backoff; after the last
 * attempt, or on a definite libvirt error, the operation fails and is compensated.
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import { randomUUID } from "node:crypto";
import type { Db } from "../db/client.ts";
import { notifyVmChanged } from "../db/notify.ts";
import { HypervisorError } from "../hypervisor/driver.ts";
import type { HostPool } from "../hypervisor/host-pool.ts";
import { log as rootLog } from "../log.ts";
import { systemClock, type Clock } from "./clock.ts";
import { compensate, HANDLERS, type JobContext, type OperationRow } from "./operations/handlers.ts";
import { imageOnHost } from "./operations/context.ts";
import { FencingRequired } from "./operations/ha-restart.ts";
import { classNetworkName } from "./vm-layout.ts";
import { vmTuning, vmTuningSelect } from "./flavor-tuning.ts";
import { hostPreparations } from "./host-preparation.ts";
import { isOperationKind } from "../domain/operation-kinds.ts";

export const MAX_ATTEMPTS = 5;

export interface WorkerOptions {
  db: Db;
  hosts: HostPool;
  concurrency: number;
  clock?: Clock;
  pollMs?: number;
  heartbeatMs?: number;
  defaultShutdownTimeoutS: number;
  workerId?: string;
}

interface ClaimedRow extends OperationRow {
  hostId: string | null;
}

function isTransient(err: unknown): boolean {
  return err instanceof HypervisorError && (err.kind === "timeout" || err.kind === "disconnected");
}

function errorText(err: unknown): string {
  if (err instanceof HypervisorError) return err.kind === "libvirt" ? `libvirt error ${err.code}: ${err.message}` : err.message;
  return err instanceof Error ? err.message : String(err);
}

export class Worker {
  readonly id: string;
  private running = 0;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly clock: Clock;
  private readonly log;

  constructor(private readonly opts: WorkerOptions) {
    this.id = opts.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.clock = opts.clock ?? systemClock;
    this.log = rootLog.child({ worker: this.id });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops claiming and waits for operations in flight (they finish or are reclaimed after a crash). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let claimed = false;
      if (this.running < this.opts.concurrency) {
        try {
          const op = await this.claim();
          if (op) {
            claimed = true;
            this.running++;
            const p = this.execute(op).finally(() => {
              this.running--;
              this.inFlight.delete(p);
            });
            this.inFlight.add(p);
          }
        } catch (err) {
          this.log.error({ err }, "claiming an operation failed");
        }
      }
      if (!claimed) await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 200));
    }
  }

  /**
   * Claims a runnable operation; skips rows other workers hold. The oldest of those whose requester
   * has the fewest operations running: a teacher's "start all" of a class of 500, or a tenant's
   * twenty snapshots, does not hold every worker slot until it is done while another user's single
   * start waits behind it (it is claimed at the next free slot).
   */
  async claim(): Promise<ClaimedRow | null> {
    const now = this.clock.now();
    const rows = await this.opts.db.$queryRaw<ClaimedRow[]>`
      UPDATE "Operation" SET "status" = 'running', "lockedBy" = ${this.id}, "heartbeatAt" = ${now},
        "startedAt" = COALESCE("startedAt", ${now}), "attempts" = "attempts" + 1
      WHERE "id" = (
        SELECT q."id" FROM "Operation" q WHERE q."status" = 'queued' AND q."runAfter" <= ${now}
        ORDER BY (
          SELECT count(*) FROM "Operation" r
          WHERE r."status" = 'running' AND r."requestedById" IS NOT DISTINCT FROM q."requestedById"
        ), q."createdAt"
        FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING "id", "kind", "vmId", "hostId", "params", "attempts", "requestedById"`;
    return rows[0] ?? null;
  }

  /** Runs one claimed operation to an outcome. Never throws. */
  async execute(op: ClaimedRow): Promise<void> {
    const db = this.opts.db;
    const log = this.log.child({ operationId: op.id, vmId: op.vmId, kind: op.kind });
    const heartbeat = setInterval(() => {
      void db.operation.updateMany({ where: { id: op.id, lockedBy: this.id }, data: { heartbeatAt: this.clock.now() } }).catch(() => undefined);
    }, this.opts.heartbeatMs ?? 5_000);
    let ctx: JobContext | null = null;
    try {
      ctx = await this.context(op, log);
      if (!isOperationKind(op.kind)) throw new Error(`unknown operation kind ${op.kind}`);
      const handler = HANDLERS[op.kind];
      // Reclaimed by the reaper once too often: stop trying and clean up instead.
      if (op.attempts > MAX_ATTEMPTS) throw new Error(`gave up after ${MAX_ATTEMPTS} attempts`);
      log.info({ attempt: op.attempts }, "operation started");
      await handler(ctx);
      await this.finish(op, "succeeded", null);
      log.info("operation succeeded");
    } catch (err) {
      const message = errorText(err);
      // Its retry, and every other operation on the host, asks the host again what it took as prepared.
      if (ctx) hostPreparations.forget(ctx.conn);
      if (isTransient(err) && op.attempts < MAX_ATTEMPTS) {
        const delayMs = Math.min(30_000, 1_000 * 2 ** (op.attempts - 1));
        log.warn({ err: message, delayMs }, "operation hit a transient host failure; will retry");
        await db.operation.updateMany({
          where: { id: op.id, lockedBy: this.id },
          data: { status: "queued", lockedBy: null, error: `attempt ${op.attempts}: ${message}`, runAfter: new Date(this.clock.now().getTime() + delayMs) },
        });
      } else {
        log.warn({ err: message }, "operation failed");
        if (ctx) {
          try {
            await compensate(ctx, message, err instanceof FencingRequired);
          } catch (cerr) {
            // The reaper/reconciler will see the leftovers; the failure itself is still recorded.
            log.error({ err: errorText(cerr) }, "compensation failed");
          }
        }
        await this.finish(op, "failed", message);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async context(op: ClaimedRow, log: Logger): Promise<JobContext> {
    const db = this.opts.db;
    if (!op.vmId) throw new Error("operation has no VM");
    const vm = await db.vm.findUniqueOrThrow({
      where: { id: op.vmId },
      select: { id: true, name: true, ownerId: true, domainName: true, vcpus: true, memoryMiB: true, diskGiB: true, maxVcpus: true, maxMemoryMiB: true, cloudInit: true, hostId: true, imageId: true, host: true, image: { select: { id: true, name: true, path: true, format: true, shared: true, hostId: true, sha256: true } }, class: { select: { id: true, isolatedNetwork: true } }, ...vmTuningSelect },
    });
    const { host, image, class: klass, flavor, cpuAllocations, ...rest } = vm;
    const vmRow = { ...rest, networkName: klass?.isolatedNetwork ? classNetworkName(klass.id) : null, tuning: vmTuning(flavor, cpuAllocations, host.id) };
    return {
      db,
      op,
      vm: vmRow,
      host,
      image: image ? await imageOnHost(db, image, host.id) : null,
      imageSource: image,
      conn: this.opts.hosts.get(host),
      connect: (other) => this.opts.hosts.get(other),
      clock: this.clock,
      defaultShutdownTimeoutS: this.opts.defaultShutdownTimeoutS,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      step: async (name, progress) => {
        log.debug({ step: name, progress }, "operation step");
        await db.operation.updateMany({ where: { id: op.id, lockedBy: this.id }, data: { step: name, progress, heartbeatAt: this.clock.now() } });
        await notifyVmChanged(db, { vmId: vm.id, ownerId: vm.ownerId });
      },
    };
  }

  /** Records the outcome and frees the VM for the next operation, in one transaction. */
  private async finish(op: ClaimedRow, status: "succeeded" | "failed", error: string | null): Promise<void> {
    const db = this.opts.db;
    await db.$transaction(async (tx) => {
      await tx.operation.update({
        where: { id: op.id },
        data: { status, error, finishedAt: this.clock.now(), lockedBy: null, progress: status === "succeeded" ? 100 : undefined, step: status === "succeeded" ? "done" : undefined },
      });
      if (op.vmId) {
        await tx.vm.updateMany({ where: { id: op.vmId, activeOperationId: op.id }, data: { activeOperationId: null } });
        const vm = await tx.vm.findUnique({ where: { id: op.vmId }, select: { ownerId: true } });
        if (vm) await notifyVmChanged(tx, { vmId: op.vmId, ownerId: vm.ownerId });
      }
    });
  }
}
