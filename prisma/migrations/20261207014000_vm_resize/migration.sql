-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "maxMemoryMiB" INTEGER,
ADD COLUMN     "maxVcpus" INTEGER;

