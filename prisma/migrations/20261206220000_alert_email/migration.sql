-- Alert e-mail: deliveries get a channel (webhook or email); the due-deliveries index leads with it.
-- CreateEnum
CREATE TYPE "AlertChannel" AS ENUM ('webhook', 'email');

-- DropIndex
DROP INDEX "WebhookDelivery_deliveredAt_nextAttemptAt_idx";

-- AlterTable
ALTER TABLE "WebhookDelivery" ADD COLUMN     "channel" "AlertChannel" NOT NULL DEFAULT 'webhook';

-- CreateIndex
CREATE INDEX "WebhookDelivery_channel_deliveredAt_nextAttemptAt_idx" ON "WebhookDelivery"("channel", "deliveredAt", "nextAttemptAt");

