-- Teaching quota: an admin's grant to each teacher, and the ledger every class budget of theirs draws on.
CREATE TABLE "TeachingQuota" (
    "userId" UUID NOT NULL,
    "maxVms" INTEGER NOT NULL DEFAULT 0,
    "maxVcpus" INTEGER NOT NULL DEFAULT 0,
    "maxMemoryMiB" INTEGER NOT NULL DEFAULT 0,
    "maxDiskGiB" INTEGER NOT NULL DEFAULT 0,
    "usedVms" INTEGER NOT NULL DEFAULT 0,
    "usedVcpus" INTEGER NOT NULL DEFAULT 0,
    "usedMemoryMiB" INTEGER NOT NULL DEFAULT 0,
    "usedDiskGiB" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TeachingQuota_pkey" PRIMARY KEY ("userId")
);

ALTER TABLE "TeachingQuota" ADD CONSTRAINT "TeachingQuota_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing classes keep working: their owners are granted exactly what their live classes' budgets
-- already take (no more), and the ledger starts from that sum.
INSERT INTO "TeachingQuota" ("userId", "maxVms", "maxVcpus", "maxMemoryMiB", "maxDiskGiB", "usedVms", "usedVcpus", "usedMemoryMiB", "usedDiskGiB", "updatedAt")
SELECT "ownerId", LEAST(SUM("maxVms"), 2147483647), LEAST(SUM("maxVcpus"), 2147483647), LEAST(SUM("maxMemoryMiB"), 2147483647), LEAST(SUM("maxDiskGiB"), 2147483647), LEAST(SUM("maxVms"), 2147483647), LEAST(SUM("maxVcpus"), 2147483647), LEAST(SUM("maxMemoryMiB"), 2147483647), LEAST(SUM("maxDiskGiB"), 2147483647), now()
FROM "Class" WHERE "expiredAt" IS NULL GROUP BY "ownerId";
