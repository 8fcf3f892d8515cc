import type { Metadata } from "next";
import { ClassPage } from "../../_components/class/class-page";
import { requireSession } from "../../_lib/session";

export const metadata: Metadata = { title: "Class" };

export default async function ClassRoute({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireSession(`/classes/${id}`);
  return <ClassPage id={id} />;
}
