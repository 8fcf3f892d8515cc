/**
 * ConsoleStore over a small node-postgres pool: the console proxy's whole data path, without the
 * Prisma client. Column and table names are Prisma's (prisma/schema.prisma), so rows written here are
 * the rows the API reads.
 *
 * Prisma keeps DateTime columns as `timestamp(3)` holding UTC. Dates therefore go in as ISO strings
 * cast to `timestamp` (the trailing Z is dropped, the wall clock is UTC) and come out `AT TIME ZONE
 * 'UTC'`, so neither the process's nor the database session's time zone can shift them.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { log } from "../log.ts";
import type { ConsoleAccess, ConsoleAuditRow, ConsoleStore, RedeemedConsoleAccess, TicketTarget } from "./store.ts";
import type { ConsoleKind, ConsoleMode } from "./tickets.ts";

/**
 * A submission viewer (sv) stands where a VM would: its state as a VM state (running; provisioning
 * while it boots; deleted once closing, closed or failed), its own domain and host.
 */
const VIEWER_STATE = `CASE WHEN sv."id" IS NULL THEN v."state"::text WHEN sv."state" = 'running' THEN 'running' WHEN sv."state" = 'creating' THEN 'provisioning' ELSE 'deleted' END`;

/**
 * The access columns both the redemption and the re-check read, from a source `s` of ("userId",
 * "vmId"), where "vmId" may name a submission viewer (its student's VM then gives owner and class).
 */
const ACCESS_COLUMNS = `
  s."userId"::text AS "userId", s."vmId"::text AS "vmId",
  u."username", u."role"::text AS "role", u."disabled", u."sessionVersion",
  ${VIEWER_STATE} AS "vmState",
  CASE WHEN sv."id" IS NULL THEN v."deletedAt" IS NOT NULL ELSE sv."state" NOT IN ('creating', 'running') END AS "vmDeleted",
  COALESCE(sv."domainName", v."domainName") AS "domainName", v."ownerId"::text AS "ownerId",
  sv."id" IS NULL AND v."targetHostId" IS NOT NULL AS "vmMigrating", sv."id" IS NOT NULL AS "isViewer",
  h."id"::text AS "hostId", h."uri" AS "hostUri",
  c."id"::text AS "classId", c."frozenAt" AT TIME ZONE 'UTC' AS "frozenAt",
  c."studentsMayPower", c."studentsMayReset", c."studentsMayRevert",
  (SELECT array_agg(ct."userId"::text) FROM "ClassTeacher" ct WHERE ct."classId" = c."id") AS "teacherIds"`;
const ACCESS_JOINS = `
  LEFT JOIN "User" u ON u."id" = s."userId"
  LEFT JOIN "SubmissionViewer" sv ON sv."id" = s."vmId"
  LEFT JOIN "Vm" v ON v."id" = COALESCE(sv."vmId", s."vmId")
  LEFT JOIN "Host" h ON h."id" = COALESCE(sv."hostId", v."hostId")
  LEFT JOIN "Class" c ON c."id" = COALESCE(sv."classId", v."classId")`;

// Named statements: each pooled connection parses and plans them once, not on every console connect.
const REDEEM: Omit<pg.QueryConfig, "values"> = {
  name: "console-redeem",
  text: `
    WITH s AS (
      UPDATE "ConsoleTicket" SET "consumedAt" = $2::timestamp
      WHERE "tokenHash" = $1 AND "consumedAt" IS NULL AND "expiresAt" > $2::timestamp
      RETURNING "id", "userId", COALESCE("viewerId", "vmId") AS "vmId", "mode", "kind", "sessionVersion")
    SELECT s."id"::text AS "id", s."mode", s."kind", s."sessionVersion" AS "ticketSessionVersion", ${ACCESS_COLUMNS}
    FROM s ${ACCESS_JOINS}`,
};
const RECHECK: Omit<pg.QueryConfig, "values"> = {
  name: "console-recheck",
  text: `SELECT ${ACCESS_COLUMNS} FROM unnest($1::uuid[], $2::uuid[]) AS s("userId", "vmId") ${ACCESS_JOINS}`,
};
const AUDIT: Omit<pg.QueryConfig, "values"> = {
  name: "console-audit",
  text: `INSERT INTO "AuditEvent" ("id", "at", "actorId", "actorName", "action", "targetType", "targetId", "result", "detail", "ip")
         VALUES ($1::uuid, $2::timestamp, $3::uuid, $4, $5, $6, $7, $8, $9::jsonb, $10)`,
};
// One row per aggregate key: the first refusal inserts it, later ones of the same window count up.
const AUDIT_REFUSAL: Omit<pg.QueryConfig, "values"> = {
  name: "console-audit-refusal",
  text: `INSERT INTO "AuditEvent" ("id", "at", "actorId", "actorName", "action", "targetType", "targetId", "result", "detail", "ip", "count", "lastAt", "aggregateKey")
         VALUES ($1::uuid, $2::timestamp, NULL, NULL, $3, $4, NULL, $5, $6::jsonb, $7, 1, $2::timestamp, $8)
         ON CONFLICT ("aggregateKey") DO UPDATE SET "count" = "AuditEvent"."count" + 1, "lastAt" = EXCLUDED."lastAt"`,
};
const TICKET_TARGET: Omit<pg.QueryConfig, "values"> = {
  name: "console-ticket-target",
  text: `SELECT COALESCE(t."viewerId", t."vmId")::text AS "vmId", t."kind", t."expiresAt" AT TIME ZONE 'UTC' AS "expiresAt", ${VIEWER_STATE} AS "vmState",
                h."id"::text AS "hostId", h."uri" AS "hostUri", COALESCE(sv."domainName", v."domainName") AS "domainName"
         FROM "ConsoleTicket" t LEFT JOIN "SubmissionViewer" sv ON sv."id" = t."viewerId"
           JOIN "Vm" v ON v."id" = t."vmId" JOIN "Host" h ON h."id" = COALESCE(sv."hostId", v."hostId")
         WHERE t."tokenHash" = $1 AND t."consumedAt" IS NULL AND t."expiresAt" > $2::timestamp AND (sv."id" IS NOT NULL OR v."deletedAt" IS NULL)`,
};
const PURGE: Omit<pg.QueryConfig, "values"> = {
  name: "console-purge",
  text: `DELETE FROM "ConsoleTicket" WHERE "expiresAt" < $1::timestamp`,
};

/**
 * The aggregate key of a refusal: action|result|address|reason|start of its minute (ISO). The HTTP
 * side (services/audit-service.ts) builds the same key, so both count into rows of one shape.
 */
export function refusalAggregateKey(action: string, result: string, ip: string | null, reason: string, at: Date): string {
  const windowStart = new Date(Math.floor(at.getTime() / 60_000) * 60_000);
  return [action, result, ip ?? "", reason, windowStart.toISOString()].join("|");
}

interface AccessRow {
  userId: string;
  vmId: string;
  username: string | null;
  role: string | null;
  disabled: boolean | null;
  sessionVersion: number | null;
  vmState: string | null;
  vmDeleted: boolean | null;
  vmMigrating: boolean | null;
  isViewer: boolean | null;
  domainName: string | null;
  ownerId: string | null;
  hostId: string | null;
  hostUri: string | null;
  classId: string | null;
  frozenAt: Date | null;
  studentsMayPower: boolean | null;
  studentsMayReset: boolean | null;
  studentsMayRevert: boolean | null;
  teacherIds: string[] | null;
}

function toAccess(r: AccessRow): ConsoleAccess {
  return {
    userId: r.userId,
    vmId: r.vmId,
    user: r.username !== null ? { id: r.userId, username: r.username, role: r.role!, disabled: r.disabled!, sessionVersion: r.sessionVersion! } : null,
    vm:
      r.vmState !== null
        ? {
            id: r.vmId,
            state: r.vmState,
            deleted: r.vmDeleted!,
            migrating: r.vmMigrating!,
            viewer: r.isViewer === true,
            domainName: r.domainName!,
            ownerId: r.ownerId!,
            host: { id: r.hostId!, uri: r.hostUri! },
            class:
              r.classId !== null
                ? { frozenAt: r.frozenAt, studentsMayPower: r.studentsMayPower!, studentsMayReset: r.studentsMayReset!, studentsMayRevert: r.studentsMayRevert!, teachers: (r.teacherIds ?? []).map((userId) => ({ userId })) }
                : null,
          }
        : null,
  };
}

export class PgConsoleStore implements ConsoleStore {
  constructor(private readonly pool: pg.Pool) {}

  /** A store with its own small pool: the proxy needs a connection per concurrent connect, not more. */
  static connect(connectionString: string, max = 4): PgConsoleStore {
    // Generic plans from the first execution: the statements are key lookups whose plans never
    // depend on the values, and PostgreSQL's default re-plans a named statement on each of its first
    // five executions per connection (~0.4 ms each for the redemption's joins, measured).
    const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 60_000, options: "-c plan_cache_mode=force_generic_plan" });
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on("error", (err) => log.warn({ err }, "console store: idle database connection lost"));
    return new PgConsoleStore(pool);
  }

  async redeemTicket(tokenHash: string, now: Date): Promise<RedeemedConsoleAccess | null> {
    const { rows } = await this.pool.query<AccessRow & { id: string; mode: string; kind: string; ticketSessionVersion: number }>({ ...REDEEM, values: [tokenHash, now.toISOString()] });
    const r = rows[0];
    if (!r) return null;
    return { id: r.id, mode: r.mode as ConsoleMode, kind: r.kind as ConsoleKind, ticketSessionVersion: r.ticketSessionVersion, ...toAccess(r) };
  }

  async recheck(pairs: ReadonlyArray<{ userId: string; vmId: string }>): Promise<ConsoleAccess[]> {
    if (pairs.length === 0) return [];
    const { rows } = await this.pool.query<AccessRow>({ ...RECHECK, values: [pairs.map((p) => p.userId), pairs.map((p) => p.vmId)] });
    return rows.map(toAccess);
  }

  async audit(row: ConsoleAuditRow): Promise<void> {
    await this.pool.query({
      ...AUDIT,
      values: [randomUUID(), new Date().toISOString(), row.actorId, row.actorName, row.action, row.targetType ?? null, row.targetId ?? null, row.result, JSON.stringify(row.detail ?? {}), row.ip],
    });
  }

  async auditRefusal(row: ConsoleAuditRow & { reason: string }, at: Date): Promise<void> {
    const key = refusalAggregateKey(row.action, row.result, row.ip, row.reason, at);
    await this.pool.query({ ...AUDIT_REFUSAL, values: [randomUUID(), at.toISOString(), row.action, row.targetType ?? null, row.result, JSON.stringify(row.detail ?? {}), row.ip, key] });
  }

  async ticketTarget(tokenHash: string, now: Date): Promise<TicketTarget | null> {
    const { rows } = await this.pool.query<TicketTarget>({ ...TICKET_TARGET, values: [tokenHash, now.toISOString()] });
    return rows[0] ?? null;
  }

  async purgeExpiredTickets(now: Date): Promise<number> {
    const { rowCount } = await this.pool.query({ ...PURGE, values: [new Date(now.getTime() - 3_600_000).toISOString()] });
    return rowCount ?? 0;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
