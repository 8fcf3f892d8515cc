import type { Metadata } from "next";
import { Videowall } from "../../../_components/class/videowall";
import { requireSession } from "../../../_lib/session";

export const metadata: Metadata = { title: "Videowall" };

export default async function WallRoute({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requireSession(`/classes/${id}/wall`);
  return <Videowall id={id} />;
}
