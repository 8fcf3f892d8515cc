-- Live migration: the destination of a queued or running migration holds the VM's capacity until it lands.
ALTER TABLE "Vm" ADD COLUMN     "targetHostId" UUID;
