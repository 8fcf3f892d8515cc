import type { Metadata } from "next";
import { ConsolePage } from "../../../_components/console/console-page";
import { requireSession } from "../../../_lib/session";

export const metadata: Metadata = { title: "Serial console" };

export default async function VmSerialPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireSession(`/vms/${id}/serial`);
  return <ConsolePage id={id} kind="serial" />;
}
