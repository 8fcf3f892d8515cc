import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { UsersAdmin } from "./users-admin";

export const metadata: Metadata = { title: "Users" };

export default async function UsersPage() {
  await requireSession("/admin/users");
  return (
    <AdminOnly>
      <UsersAdmin />
    </AdminOnly>
  );
}
