-- AlterTable
ALTER TABLE "Quota" ADD COLUMN     "maxSnapshots" INTEGER NOT NULL DEFAULT 10;

-- CreateTable
CREATE TABLE "VmSnapshot" (
    "id" UUID NOT NULL,
    "vmId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "memory" BOOLEAN NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'creating',
    "createdById" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VmSnapshot_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "VmSnapshot_vmId_name_key" ON "VmSnapshot"("vmId", "name");

-- AddForeignKey
ALTER TABLE "VmSnapshot" ADD CONSTRAINT "VmSnapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

