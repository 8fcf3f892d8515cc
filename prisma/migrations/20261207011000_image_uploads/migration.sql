-- AlterTable
ALTER TABLE "Image" ADD COLUMN     "ownerId" UUID,
ADD COLUMN     "sizeBytes" BIGINT;

-- AlterTable
ALTER TABLE "Quota" ADD COLUMN     "maxImagesGiB" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "ImageUpload" (
    "id" UUID NOT NULL,
    "ownerId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "format" TEXT NOT NULL,
    "totalBytes" BIGINT,
    "offset" BIGINT NOT NULL DEFAULT 0,
    "state" TEXT NOT NULL DEFAULT 'uploading',
    "error" TEXT,
    "imageId" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ImageUpload_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ImageUpload_ownerId_state_idx" ON "ImageUpload"("ownerId", "state");

-- CreateIndex
CREATE INDEX "ImageUpload_state_updatedAt_idx" ON "ImageUpload"("state", "updatedAt");

-- AddForeignKey
ALTER TABLE "Image" ADD CONSTRAINT "Image_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ImageUpload" ADD CONSTRAINT "ImageUpload_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
