import type { Metadata } from "next";
import { ClassesList } from "../_components/class/classes-list";
import { requireSession } from "../_lib/session";

export const metadata: Metadata = { title: "Classes" };

export default async function ClassesPage() {
  await requireSession("/classes");
  return <ClassesList />;
}
