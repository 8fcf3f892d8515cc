import type { Metadata } from "next";
import { SubmissionViewerPage } from "../../../../_components/class/submission-viewer-page";
import { requireSession } from "../../../../_lib/session";

export const metadata: Metadata = { title: "Submission" };

export default async function SubmissionViewerRoute({ params }: { params: Promise<{ id: string; viewerId: string }> }) {
  const { id, viewerId } = await params;
  await requireSession(`/classes/${id}/submissions/${viewerId}`);
  return <SubmissionViewerPage classId={id} viewerId={viewerId} />;
}
