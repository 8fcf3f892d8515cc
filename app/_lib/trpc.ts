/**
 * The browser's tRPC client: queries and mutations over batched HTTP, subscriptions over SSE.
 * Only the AppRouter *type* crosses from server code into app/.
 */
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import superjson from "superjson";
import type { AppRouter } from "@/server/api/root";

export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type Vm = RouterOutputs["vm"]["list"][number];
export type VmDetail = RouterOutputs["vm"]["get"];
export type Operation = RouterOutputs["vm"]["operations"][number];
export type QuotaView = RouterOutputs["auth"]["quota"];
export type Me = RouterOutputs["auth"]["me"];

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

const url = "/api/trpc";

export function makeTrpcClient() {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({ url, transformer: superjson }),
        false: httpBatchLink({ url, transformer: superjson }),
      }),
    ],
  });
}

export function isTrpcError(err: unknown): err is TRPCClientError<AppRouter> {
  return err instanceof TRPCClientError;
}

/** The server's human-readable message, or a generic one for network failures. */
export function errorMessage(err: unknown): string {
  if (!err) return "";
  if (isTrpcError(err)) {
    const issues = err.data?.issues;
    if (issues && issues.length > 0) return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
    return err.message || "request failed";
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

export function errorCode(err: unknown): string | undefined {
  return isTrpcError(err) ? (err.data?.code ?? undefined) : undefined;
}
