import type { Metadata } from "next";
import { Dashboard } from "./dashboard";
import { requireSession } from "./_lib/session";

export const metadata: Metadata = { title: "My VMs" };

export default async function HomePage() {
  await requireSession("/");
  return <Dashboard />;
}
