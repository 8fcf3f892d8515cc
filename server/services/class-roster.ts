/**
 * Accounts created from a pasted roster. Their password hashes go through one queue shared by every
 * request, one hash at a time: argon2 runs on the libuv thread pool that sign-in's own verification
 * needs (4 threads by default), and a roster hashed all at once would queue thousands of jobs ahead of
 * every sign-in. With the queue, a roster occupies at most one pool thread whatever its size or how
 * many teachers import at once.
 */
import { randomUUID } from "node:crypto";
import { hashTemporaryPassword, randomPassword } from "../auth/secrets.ts";
import type { RosterRow } from "../domain/classroom.ts";

let queueTail: Promise<unknown> = Promise.resolve();

/** Runs `fn` after every job queued before it (failures do not stop the queue). */
function inHashQueue<T>(fn: () => Promise<T>): Promise<T> {
  const run = queueTail.then(fn, fn);
  queueTail = run.catch(() => undefined);
  return run;
}

export interface RosterAccount extends RosterRow {
  id: string;
  /** Shown to the teacher once, never stored. */
  password: string;
  passwordHash: string;
}

/** New accounts for `rows`, each with a random temporary password and its hash. */
export async function newRosterAccounts(rows: RosterRow[]): Promise<RosterAccount[]> {
  return Promise.all(
    rows.map((r) => {
      const password = randomPassword();
      return inHashQueue(() => hashTemporaryPassword(password)).then((passwordHash) => ({ ...r, id: randomUUID(), password, passwordHash }));
    }),
  );
}
