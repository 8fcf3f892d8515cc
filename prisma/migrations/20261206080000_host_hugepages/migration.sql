-- Hosts report their huge pages (size, total, free) as capacity.
ALTER TABLE "Host" ADD COLUMN     "hugepages" JSONB NOT NULL DEFAULT '[]';
