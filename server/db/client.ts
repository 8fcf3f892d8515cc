/**
 * The Prisma client (driver adapter over node-postgres). One per process, created on first use so
 * DATABASE_URL can be decided at start-up (embedded cluster or external server).
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../../prisma/generated/client.ts";
import { databaseUrl } from "./url.ts";

export { databaseUrl };

export type Db = PrismaClient;
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

const holder = globalThis as unknown as { __vmdeskDb?: PrismaClient };

export function db(): PrismaClient {
  if (!holder.__vmdeskDb) {
    holder.__vmdeskDb = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl(), max: 20 }) });
  }
  return holder.__vmdeskDb;
}

export async function disconnectDb(): Promise<void> {
  const client = holder.__vmdeskDb;
  holder.__vmdeskDb = undefined;
  await client?.$disconnect();
}
