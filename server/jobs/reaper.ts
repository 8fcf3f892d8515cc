/**
 * Returns operations whose worker stopped heartbeating (crashed, killed, partitioned) to the queue.
 * Handlers are idempotent, so the next claim resumes the work; past MAX_ATTEMPTS the worker fails
 * and compensates it instead.
 */
import type { Db } from "../db/client.ts";
import { log } from "../log.ts";
import type { Clock } from "./clock.ts";

export async function reapStaleOperations(db: Db, clock: Clock, staleMs: number): Promise<number> {
  const cutoff = new Date(clock.now().getTime() - staleMs);
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    UPDATE "Operation" SET "status" = 'queued', "lockedBy" = NULL, "runAfter" = ${clock.now()},
      "error" = 'worker stopped responding; resuming'
    WHERE "status" = 'running' AND ("heartbeatAt" IS NULL OR "heartbeatAt" < ${cutoff})
    RETURNING "id"`;
  if (rows.length > 0) log.warn({ operations: rows.map((r) => r.id) }, "requeued stale operations");
  return rows.length;
}
