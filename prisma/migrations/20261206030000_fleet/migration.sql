-- Hosts as a fleet: overcommit ratios and memory reserve per host (the defaults are what class
-- provisioning assumed for every host until now), labels placement can require, maintenance.
ALTER TABLE "Host" ADD COLUMN     "cpuRatio" DOUBLE PRECISION NOT NULL DEFAULT 16,
ADD COLUMN     "labels" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "maintenance" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "memoryRatio" DOUBLE PRECISION NOT NULL DEFAULT 1,
ADD COLUMN     "reservedMemoryMiB" INTEGER NOT NULL DEFAULT 512;

-- Images on storage every host mounts at the same path need no copy.
ALTER TABLE "Image" ADD COLUMN     "shared" BOOLEAN NOT NULL DEFAULT false;
