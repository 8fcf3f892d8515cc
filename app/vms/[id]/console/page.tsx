import type { Metadata } from "next";
import { ConsolePage } from "../../../_components/console/console-page";
import { requireSession } from "../../../_lib/session";

export const metadata: Metadata = { title: "Console" };

export default async function VmConsolePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireSession(`/vms/${id}/console`);
  return <ConsolePage id={id} kind="vnc" />;
}
