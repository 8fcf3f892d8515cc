/** Password hashing (argon2id) and opaque API-token secrets (only their SHA-256 is stored). */
import { createHash, randomBytes } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";

export function hashPassword(password: string): Promise<string> {
  return hash(password, { memoryCost: 19_456, timeCost: 2, parallelism: 1 });
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** A dummy hash so that unknown usernames cost the same time as wrong passwords. */
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword("not-a-real-password");
  await verifyPassword(await dummyHash, password);
}

export const TOKEN_PREFIX = "vmd_";

export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

export function randomPassword(): string {
  return randomBytes(18).toString("base64url");
}

/**
 * Hash of a generated temporary password (roster accounts). These are 144 random bits, so no guessing
 * can reach them whatever the hash costs, and they are replaced by a full-cost hash at the first
 * sign-in (mustChangePassword): a light argon2id (4 MiB, one pass) keeps a 500-student import from
 * spending seconds of CPU. verifyPassword reads the parameters from the hash itself.
 */
export function hashTemporaryPassword(password: string): Promise<string> {
  return hash(password, { memoryCost: 4096, timeCost: 1, parallelism: 1 });
}
