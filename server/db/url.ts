/**
 * Where the database is. Kept apart from client.ts so that processes which only need node-postgres
 * (the change listener, the console proxy's store) never load the Prisma client.
 */
export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set (the portal's start-up sets it for the embedded database)");
  return url;
}
