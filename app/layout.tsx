import type { Metadata } from "next";
import type { ReactNode } from "react";
import { Nav } from "./_components/nav";
import { getSession } from "./_lib/session";
import { Providers } from "./providers";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "vmdesk", template: "%s · vmdesk" },
  description: "Self-service portal for virtual machines",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await getSession();
  return (
    <html lang="en">
      <body>
        <Providers session={session}>
          {session?.user ? <Nav username={session.user.name ?? ""} /> : null}
          <main className="page">{children}</main>
        </Providers>
      </body>
    </html>
  );
}
