-- AlterTable
ALTER TABLE "ConsoleTicket" ADD COLUMN     "viewerId" UUID;

-- CreateTable
CREATE TABLE "SubmissionViewer" (
    "id" UUID NOT NULL,
    "classId" UUID NOT NULL,
    "vmId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "openedById" UUID NOT NULL,
    "domainName" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'creating',
    "error" TEXT,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" TIMESTAMP(3),

    CONSTRAINT "SubmissionViewer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "VmSubmission" (
    "vmId" UUID NOT NULL,
    "classId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "path" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VmSubmission_pkey" PRIMARY KEY ("vmId")
);

-- CreateTable
CREATE TABLE "SubmissionExport" (
    "id" UUID NOT NULL,
    "classId" UUID NOT NULL,
    "requestedById" UUID NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'preparing',
    "error" TEXT,
    "files" JSONB NOT NULL DEFAULT '[]',
    "skipped" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "readyAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SubmissionExport_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SubmissionViewer_domainName_key" ON "SubmissionViewer"("domainName");

-- CreateIndex
CREATE INDEX "SubmissionViewer_classId_state_idx" ON "SubmissionViewer"("classId", "state");

-- CreateIndex
CREATE INDEX "SubmissionViewer_state_expiresAt_idx" ON "SubmissionViewer"("state", "expiresAt");

-- CreateIndex
CREATE INDEX "VmSubmission_classId_idx" ON "VmSubmission"("classId");

-- CreateIndex
CREATE INDEX "SubmissionExport_classId_createdAt_idx" ON "SubmissionExport"("classId", "createdAt");

-- CreateIndex
CREATE INDEX "SubmissionExport_state_idx" ON "SubmissionExport"("state");

