-- Shared storage: hosts that declare the same shared pool migrate VMs memory only.
ALTER TABLE "Host" ADD COLUMN     "poolShared" BOOLEAN NOT NULL DEFAULT false;
