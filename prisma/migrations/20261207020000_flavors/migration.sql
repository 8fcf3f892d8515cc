-- Flavors (admin-defined sizes with tuning), the PCI passthrough pool, dedicated pCPU allocations per host.
-- AlterTable
ALTER TABLE "Host" ADD COLUMN     "reservedCpus" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "flavorId" UUID;

-- CreateTable
CREATE TABLE "Flavor" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "public" BOOLEAN NOT NULL DEFAULT true,
    "vcpus" INTEGER NOT NULL,
    "memoryMiB" INTEGER NOT NULL,
    "diskGiB" INTEGER NOT NULL,
    "dedicatedCpus" BOOLEAN NOT NULL DEFAULT false,
    "numaNodes" INTEGER NOT NULL DEFAULT 0,
    "numaMode" TEXT,
    "numaNodeset" TEXT,
    "hugepagesKiB" INTEGER,
    "cpuShares" INTEGER,
    "cpuPeriodUs" INTEGER,
    "cpuQuotaUs" INTEGER,
    "diskTotalIops" INTEGER,
    "diskReadIops" INTEGER,
    "diskWriteIops" INTEGER,
    "diskTotalBytesSec" BIGINT,
    "diskReadBytesSec" BIGINT,
    "diskWriteBytesSec" BIGINT,
    "netInAverageKiBs" INTEGER,
    "netInPeakKiBs" INTEGER,
    "netInBurstKiB" INTEGER,
    "netOutAverageKiBs" INTEGER,
    "netOutPeakKiBs" INTEGER,
    "netOutBurstKiB" INTEGER,
    "firmware" TEXT NOT NULL DEFAULT 'bios',
    "secureBoot" BOOLEAN NOT NULL DEFAULT false,
    "tpm" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Flavor_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "HostDevice" (
    "id" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "pciAddress" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HostDevice_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "FlavorHostDevice" (
    "flavorId" UUID NOT NULL,
    "hostDeviceId" UUID NOT NULL,

    CONSTRAINT "FlavorHostDevice_pkey" PRIMARY KEY ("flavorId","hostDeviceId")
);

-- CreateTable
CREATE TABLE "CpuAllocation" (
    "hostId" UUID NOT NULL,
    "pcpu" INTEGER NOT NULL,
    "vmId" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CpuAllocation_pkey" PRIMARY KEY ("hostId","pcpu")
);

-- CreateIndex
CREATE UNIQUE INDEX "Flavor_name_key" ON "Flavor"("name");

-- CreateIndex
CREATE UNIQUE INDEX "HostDevice_hostId_pciAddress_key" ON "HostDevice"("hostId", "pciAddress");

-- CreateIndex
CREATE INDEX "FlavorHostDevice_hostDeviceId_idx" ON "FlavorHostDevice"("hostDeviceId");

-- CreateIndex
CREATE INDEX "CpuAllocation_vmId_idx" ON "CpuAllocation"("vmId");

-- CreateIndex
CREATE INDEX "Vm_flavorId_idx" ON "Vm"("flavorId");

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_flavorId_fkey" FOREIGN KEY ("flavorId") REFERENCES "Flavor"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "HostDevice" ADD CONSTRAINT "HostDevice_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FlavorHostDevice" ADD CONSTRAINT "FlavorHostDevice_flavorId_fkey" FOREIGN KEY ("flavorId") REFERENCES "Flavor"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "FlavorHostDevice" ADD CONSTRAINT "FlavorHostDevice_hostDeviceId_fkey" FOREIGN KEY ("hostDeviceId") REFERENCES "HostDevice"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CpuAllocation" ADD CONSTRAINT "CpuAllocation_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CpuAllocation" ADD CONSTRAINT "CpuAllocation_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

