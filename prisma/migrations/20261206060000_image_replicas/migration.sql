-- Images everywhere: a host without an image gets a copy in its pool on first use (libvirt streams).
ALTER TABLE "Image" ADD COLUMN     "sha256" TEXT;

-- CreateTable
CREATE TABLE "ImageReplica" (
    "id" UUID NOT NULL,
    "imageId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'copying',
    "path" TEXT,
    "bytesDone" BIGINT NOT NULL DEFAULT 0,
    "bytesTotal" BIGINT NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "claimedBy" UUID,
    "heartbeatAt" TIMESTAMP(3),
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ImageReplica_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ImageReplica_hostId_idx" ON "ImageReplica"("hostId");

-- CreateIndex
CREATE UNIQUE INDEX "ImageReplica_imageId_hostId_key" ON "ImageReplica"("imageId", "hostId");

-- AddForeignKey
ALTER TABLE "ImageReplica" ADD CONSTRAINT "ImageReplica_imageId_fkey" FOREIGN KEY ("imageId") REFERENCES "Image"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ImageReplica" ADD CONSTRAINT "ImageReplica_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
