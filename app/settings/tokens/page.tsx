import type { Metadata } from "next";
import { requireSession } from "../../_lib/session";
import { TokensView } from "./tokens-view";

export const metadata: Metadata = { title: "API tokens" };

export default async function TokensPage() {
  await requireSession("/settings/tokens");
  return <TokensView />;
}
