import type { Metadata } from "next";
import { AdminOnly } from "../../_components/admin-only";
import { requireSession } from "../../_lib/session";
import { ImagesAdmin } from "./images-admin";

export const metadata: Metadata = { title: "Images" };

export default async function ImagesPage() {
  await requireSession("/admin/images");
  return (
    <AdminOnly>
      <ImagesAdmin />
    </AdminOnly>
  );
}
