-- AlterEnum
ALTER TYPE "VmState" ADD VALUE 'unknown';

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "ha" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "haError" TEXT,
ADD COLUMN     "haFencingRequired" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "haPriority" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "haRestartAt" TIMESTAMP(3);
