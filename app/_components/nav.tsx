"use client";

import { useQuery } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useTRPC } from "../_lib/trpc";

const USER_LINKS = [
  { href: "/", label: "My VMs", testId: "nav-dashboard" },
  { href: "/images", label: "Images", testId: "nav-images" },
  { href: "/settings/tokens", label: "API tokens", testId: "nav-tokens" },
  { href: "/settings/ssh-keys", label: "SSH keys", testId: "nav-ssh-keys" },
];
const ADMIN_LINKS = [
  { href: "/admin/users", label: "Users", testId: "nav-admin-users" },
  { href: "/admin/images", label: "Images", testId: "nav-admin-images" },
  { href: "/admin/flavors", label: "Flavors", testId: "nav-admin-flavors" },
  { href: "/admin/fleet", label: "Fleet", testId: "nav-admin-fleet" },
  { href: "/admin/hosts", label: "Hosts", testId: "nav-admin-hosts" },
  { href: "/admin/alerts", label: "Alerts", testId: "nav-admin-alerts" },
  { href: "/admin/audit", label: "Audit log", testId: "nav-admin-audit" },
];

function isActive(pathname: string, href: string): boolean {
  return href === "/" ? pathname === "/" || pathname.startsWith("/vms/") : pathname.startsWith(href);
}

export function Nav({ username }: { username: string }) {
  const trpc = useTRPC();
  const pathname = usePathname();
  const me = useQuery(trpc.auth.me.queryOptions());
  const isAdmin = me.data?.role === "admin";
  return (
    <header className="topbar">
      <nav className="topbar-inner" aria-label="Main">
        <Link href="/" className="brand" data-testid="nav-brand">
          <span className="brand-mark" aria-hidden="true">▣</span> vmdesk
        </Link>
        <ul className="nav-links">
          {USER_LINKS.map((l) => (
            <li key={l.href}>
              <Link href={l.href} data-testid={l.testId} className={isActive(pathname, l.href) ? "active" : undefined}>
                {l.label}
              </Link>
            </li>
          ))}
          {isAdmin || me.data?.role === "teacher" ? (
            <li>
              <Link href="/classes" data-testid="nav-classes" className={isActive(pathname, "/classes") ? "active" : undefined}>
                Classes
              </Link>
            </li>
          ) : null}
          {isAdmin ? (
            <>
              <li className="nav-sep" aria-hidden="true" />
              {ADMIN_LINKS.map((l) => (
                <li key={l.href}>
                  <Link href={l.href} data-testid={l.testId} className={isActive(pathname, l.href) ? "active" : undefined}>
                    {l.label}
                  </Link>
                </li>
              ))}
            </>
          ) : null}
        </ul>
        <div className="nav-user">
          <span data-testid="nav-username" title={me.data?.displayName || username}>
            {username}
            {me.data ? <span className="role-tag" data-testid="nav-role">{me.data.role}</span> : null}
          </span>
          <button type="button" className="btn btn-ghost btn-sm" data-testid="sign-out" onClick={() => void signOut({ callbackUrl: "/signin" })}>
            Sign out
          </button>
        </div>
      </nav>
      {isAdmin ? <AlertBanner /> : null}
    </header>
  );
}

/** Admins see firing alerts on every page (polled every 15 s), with a link to the alerts page. */
function AlertBanner() {
  const trpc = useTRPC();
  const alerts = useQuery({ ...trpc.alert.list.queryOptions({ state: "open" }), refetchInterval: 15_000 });
  const firing = alerts.data ?? [];
  const unacked = firing.filter((a) => !a.ackedAt);
  if (firing.length === 0) return null;
  return (
    <div className={unacked.length > 0 ? "alert-banner" : "alert-banner acked"} role="status" data-testid="alert-banner" data-count={firing.length}>
      <strong>{firing.length === 1 ? "1 alert" : `${firing.length} alerts`}</strong>: {firing[0]!.message}
      {firing.length > 1 ? ` (and ${firing.length - 1} more)` : ""} · <Link href="/admin/alerts">see alerts</Link>
    </div>
  );
}
