import type { Actor } from "../domain/policy.ts";
import type { Db } from "../db/client.ts";

/** Who is asking, from where: passed to every use-case. */
export interface ServiceContext {
  db: Db;
  actor: Actor & { username: string };
  ip: string | null;
  requestId: string;
}
