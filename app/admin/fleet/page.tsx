import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { FleetAdmin } from "./fleet-admin";

export const metadata: Metadata = { title: "Fleet" };

export default async function FleetPage() {
  await requireSession("/admin/fleet");
  return (
    <AdminOnly>
      <FleetAdmin />
    </AdminOnly>
  );
}
