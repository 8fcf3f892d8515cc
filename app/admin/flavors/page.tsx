import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { FlavorsAdmin } from "./flavors-admin";

export const metadata: Metadata = { title: "Flavors" };

export default async function FlavorsPage() {
  await requireSession("/admin/flavors");
  return (
    <AdminOnly>
      <FlavorsAdmin />
    </AdminOnly>
  );
}
