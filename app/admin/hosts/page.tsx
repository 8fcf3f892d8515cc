import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { HostsAdmin } from "./hosts-admin";

export const metadata: Metadata = { title: "Hosts" };

export default async function HostsPage() {
  await requireSession("/admin/hosts");
  return (
    <AdminOnly>
      <HostsAdmin />
    </AdminOnly>
  );
}
