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

/**
 * What a minted ticket's announcement carries: its hash, nothing else (console/tickets.ts sends it).
 * Anyone who can NOTIFY can send any payload: the proxy validates the hash and reads the target from
 * the ticket's rows, so a forged payload names nothing.
 */
export type ConsoleTicketAnnouncement = unknown;

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

/** Calls `onMinted` with every announcement on the console-ticket channel, from any process. */
export function onConsoleTicketMinted(onMinted: (announcement: ConsoleTicketAnnouncement) => void): () => void {
  listening ??= listenForever();
  bus.on("ticket", onMinted);
  return () => bus.off("ticket", onMinted);
}
