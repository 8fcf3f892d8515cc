/**
 * Change notifications across processes: writers (API, worker, host monitors) call `notifyVmChanged`
 * inside or after their transaction; every web process holds one LISTEN connection and fans the
 * events out to its live subscriptions. The database stays the source of truth: subscribers re-read
 * scoped rows, the notification only says "look again".
 */
import { EventEmitter } from "node:events";
import pg from "pg";
// Types only: the console proxy listens here and must not load the Prisma client.
import type { Db, Tx } from "./client.ts";
import { databaseUrl } from "./url.ts";
import { log } from "../log.ts";

export const VM_CHANNEL = "vmdesk_vm";
/** A console ticket was minted; the console proxy may prepare the VM's display connection. */
export const CONSOLE_TICKET_CHANNEL = "vmdesk_console_ticket";

export interface VmChange {
  vmId: string;
  ownerId: string;
}

export async function notifyVmChanged(client: Db | Tx, change: VmChange): Promise<void> {
  await client.$executeRaw`SELECT pg_notify(${VM_CHANNEL}, ${JSON.stringify(change)})`;
}

/** Where a minted ticket's VM runs, as the mint saw it (a hint: the redemption re-reads all of it). */
export interface ConsoleTicketMinted {
  tokenHash: string;
  vmId: string;
  kind: string;
  expiresAtMs: number;
  vmState: string;
  hostId: string;
  hostUri: string;
  domainName: string;
}

/** Announces a minted ticket (after its row is committed) with where its VM runs, in one statement. */
export async function notifyConsoleTicketMinted(client: Db, ticket: { tokenHash: string; vmId: string; kind: string; expiresAt: Date }): Promise<void> {
  await client.$executeRaw`
    SELECT pg_notify(${CONSOLE_TICKET_CHANNEL}, json_build_object(
      'tokenHash', ${ticket.tokenHash}::text, 'vmId', v."id"::text, 'kind', ${ticket.kind}::text,
      'expiresAtMs', ${ticket.expiresAt.getTime()}::bigint, 'vmState', v."state"::text,
      'hostId', h."id"::text, 'hostUri', h."uri", 'domainName', v."domainName")::text)
    FROM "Vm" v JOIN "Host" h ON h."id" = v."hostId" WHERE v."id" = ${ticket.vmId}::uuid`;
}

const bus = new EventEmitter();
bus.setMaxListeners(0);
let listening: Promise<void> | null = null;

async function listenForever(): Promise<void> {
  let delay = 500;
  for (;;) {
    const client = new pg.Client({ connectionString: databaseUrl() });
    try {
      await client.connect();
      await client.query(`LISTEN ${VM_CHANNEL}; LISTEN ${CONSOLE_TICKET_CHANNEL}`);
      delay = 500;
      // Anything may have changed while we were not listening.
      bus.emit("resync");
      await new Promise<void>((resolve) => {
        client.on("notification", (msg) => {
          try {
            const payload: unknown = JSON.parse(msg.payload ?? "{}");
            bus.emit(msg.channel === CONSOLE_TICKET_CHANNEL ? "ticket" : "vm", payload);
          } catch {
            /* a malformed payload is ignored */
          }
        });
        client.on("error", () => resolve());
        client.on("end", () => resolve());
      });
    } catch (err) {
      log.warn({ err }, "change listener lost its database connection");
    }
    await client.end().catch(() => undefined);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

/** Calls `onChange` for every VM change (and with null after a reconnect: re-read everything). */
export function onVmChange(onChange: (change: VmChange | null) => void): () => void {
  listening ??= listenForever();
  const vm = (c: VmChange) => onChange(c);
  const resync = () => onChange(null);
  bus.on("vm", vm);
  bus.on("resync", resync);
  return () => {
    bus.off("vm", vm);
    bus.off("resync", resync);
  };
}

/** Calls `onMinted` for every console ticket minted by any process (see notifyConsoleTicketMinted). */
export function onConsoleTicketMinted(onMinted: (ticket: ConsoleTicketMinted) => void): () => void {
  listening ??= listenForever();
  bus.on("ticket", onMinted);
  return () => bus.off("ticket", onMinted);
}
