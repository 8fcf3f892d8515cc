-- Host and VM metrics: raw readings and 5-minute averages.
-- CreateTable
CREATE TABLE "HostMetric" (
    "id" BIGSERIAL NOT NULL,
    "hostId" UUID NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "step" INTEGER NOT NULL,
    "cpuPct" DOUBLE PRECISION NOT NULL,
    "memoryUsedMiB" INTEGER NOT NULL,
    "memoryTotalMiB" INTEGER NOT NULL,
    "diskFreeGiB" INTEGER,
    "vmCount" INTEGER NOT NULL,

    CONSTRAINT "HostMetric_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VmMetric" (
    "id" BIGSERIAL NOT NULL,
    "vmId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "step" INTEGER NOT NULL,
    "cpuPct" DOUBLE PRECISION NOT NULL,
    "memoryMiB" DOUBLE PRECISION NOT NULL,
    "rssMiB" DOUBLE PRECISION NOT NULL,
    "diskReadBps" DOUBLE PRECISION NOT NULL,
    "diskWriteBps" DOUBLE PRECISION NOT NULL,
    "diskReadIops" DOUBLE PRECISION NOT NULL,
    "diskWriteIops" DOUBLE PRECISION NOT NULL,
    "netRxBps" DOUBLE PRECISION NOT NULL,
    "netTxBps" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "VmMetric_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "HostMetric_hostId_step_at_idx" ON "HostMetric"("hostId", "step", "at");

-- CreateIndex
CREATE INDEX "HostMetric_step_at_idx" ON "HostMetric"("step", "at");

-- CreateIndex
CREATE INDEX "VmMetric_vmId_step_at_idx" ON "VmMetric"("vmId", "step", "at");

-- CreateIndex
CREATE INDEX "VmMetric_step_at_idx" ON "VmMetric"("step", "at");
