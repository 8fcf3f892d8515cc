import type { Metadata } from "next";
import { requireSession } from "../../_lib/session";
import { SshKeysView } from "./ssh-keys-view";

export const metadata: Metadata = { title: "SSH keys" };

export default async function SshKeysPage() {
  await requireSession("/settings/ssh-keys");
  return <SshKeysView />;
}
