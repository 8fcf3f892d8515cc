-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "leaseExpiresAt" TIMESTAMP(3),
ADD COLUMN     "leaseExtendedDays" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "leaseWarnedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "VmSerialLog" (
    "vmId" UUID NOT NULL,
    "current" BYTEA NOT NULL DEFAULT '\x',
    "previous" BYTEA NOT NULL DEFAULT '\x',
    "end" BIGINT NOT NULL DEFAULT 0,
    "sourceKey" TEXT,
    "sourceOffset" BIGINT NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "VmSerialLog_pkey" PRIMARY KEY ("vmId")
);

-- CreateIndex
CREATE INDEX "Vm_leaseExpiresAt_idx" ON "Vm"("leaseExpiresAt");

-- AddForeignKey
ALTER TABLE "VmSerialLog" ADD CONSTRAINT "VmSerialLog_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;
