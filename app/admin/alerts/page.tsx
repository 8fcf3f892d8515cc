import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { AlertsAdmin } from "./alerts-admin";

export const metadata: Metadata = { title: "Alerts" };

export default async function AlertsPage() {
  await requireSession("/admin/alerts");
  return (
    <AdminOnly>
      <AlertsAdmin />
    </AdminOnly>
  );
}
