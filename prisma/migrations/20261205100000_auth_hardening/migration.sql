-- API token scopes, the token that minted a token, and the client a password sign-in issued it to.
CREATE TYPE "TokenScope" AS ENUM ('read', 'vms', 'admin');

-- Tokens issued before scopes existed could do everything their owner could: they keep that.
ALTER TABLE "ApiToken" ADD COLUMN "scopes" "TokenScope"[] NOT NULL DEFAULT ARRAY['read', 'vms', 'admin']::"TokenScope"[],
ADD COLUMN "parentId" UUID,
ADD COLUMN "clientKey" TEXT;
ALTER TABLE "ApiToken" ALTER COLUMN "scopes" DROP DEFAULT;

CREATE INDEX "ApiToken_userId_clientKey_idx" ON "ApiToken"("userId", "clientKey");
CREATE INDEX "ApiToken_parentId_idx" ON "ApiToken"("parentId");
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "ApiToken"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Rate-limit rows know when their window ends, so housekeeping can delete them. Existing rows are
-- given the end of a five-minute window (the sign-in default).
ALTER TABLE "RateLimitBucket" ADD COLUMN "expiresAt" TIMESTAMP(3);
UPDATE "RateLimitBucket" SET "expiresAt" = "windowStart" + interval '5 minutes';
ALTER TABLE "RateLimitBucket" ALTER COLUMN "expiresAt" SET NOT NULL;
CREATE INDEX "RateLimitBucket_expiresAt_idx" ON "RateLimitBucket"("expiresAt");
