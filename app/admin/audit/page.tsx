import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { AuditAdmin } from "./audit-admin";

export const metadata: Metadata = { title: "Audit log" };

export default async function AuditPage() {
  await requireSession("/admin/audit");
  return (
    <AdminOnly>
      <AuditAdmin />
    </AdminOnly>
  );
}
