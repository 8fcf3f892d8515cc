import type { Metadata } from "next";
import { requireSession } from "../../_lib/session";
import { VmDetailView } from "./vm-detail";

export const metadata: Metadata = { title: "VM" };

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireSession(`/vms/${id}`);
  return <VmDetailView id={id} />;
}
