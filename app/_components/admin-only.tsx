"use client";

import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { useTRPC } from "../_lib/trpc";
import { FormError, Loading } from "./ui";

/** Renders its children only for admins; everyone else gets a clear "not allowed". */
export function AdminOnly({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  if (me.isPending) return <Loading what="your account" />;
  if (me.error) return <FormError error={me.error} />;
  if (me.data.role !== "admin") {
    return (
      <div className="notice notice-warn" role="alert" data-testid="not-allowed">
        <strong>Not allowed.</strong> This page is for administrators only.
      </div>
    );
  }
  return <>{children}</>;
}
