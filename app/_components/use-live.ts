"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useTRPC } from "../_lib/trpc";

export type LiveStatus = "live" | "connecting" | "offline";

function liveStatus(status: string): LiveStatus {
  return status === "pending" ? "live" : status === "error" ? "offline" : "connecting";
}

/** The VM list: one query for the first paint, then every push from `live.vms` replaces it. */
export function useLiveVms(all: boolean) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const input = all ? { all: true } : undefined;
  const listOptions = trpc.vm.list.queryOptions(input);
  const list = useQuery(listOptions);
  const sub = useSubscription(
    trpc.live.vms.subscriptionOptions(input, {
      onData: (event) => {
        queryClient.setQueryData(listOptions.queryKey, event.data);
        // Usage changes with the list (a VM created elsewhere, a deletion finishing).
        void queryClient.invalidateQueries({ queryKey: trpc.auth.quota.queryKey() });
      },
    }),
  );
  return { list, live: liveStatus(sub.status), liveError: sub.error };
}

/** One VM with its operation history, kept current by `live.vm`. */
export function useLiveVm(id: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const vmOptions = trpc.vm.get.queryOptions({ id });
  const opsOptions = trpc.vm.operations.queryOptions({ id });
  const vm = useQuery(vmOptions);
  const operations = useQuery(opsOptions);
  const sub = useSubscription(
    trpc.live.vm.subscriptionOptions(
      { id },
      {
        enabled: !vm.error,
        onData: (event) => {
          if (event.data.vm) queryClient.setQueryData(vmOptions.queryKey, event.data.vm);
          else void queryClient.invalidateQueries({ queryKey: vmOptions.queryKey });
          queryClient.setQueryData(opsOptions.queryKey, event.data.operations);
        },
      },
    ),
  );
  return { vm, operations, live: liveStatus(sub.status) };
}
