"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";

export type ClassDetail = RouterOutputs["class"]["get"];
export type Student = ClassDetail["students"][number];
export type BulkResult = RouterOutputs["class"]["startAll"];

const BUSY_POLL_MS = 1_500;
const IDLE_POLL_MS = 5_000;

/** True while a student's VM is changing: an operation is queued or running, or the VM is being created or deleted. */
export function isBusy(s: Student): boolean {
  return s.operation !== null || s.state === "provisioning" || s.state === "deleting";
}

/**
 * The class with its roster. Student VMs belong to the students, so the owner-scoped `live.vms`
 * feed does not reach the teacher; the page polls instead: every 1.5 s while anything is busy,
 * every 5 s otherwise (to catch scheduled starts and stops).
 */
export function useClass(id: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const options = trpc.class.get.queryOptions({ id });
  const query = useQuery({
    ...options,
    refetchInterval: (q) => {
      if (q.state.error) return false;
      return q.state.data?.students.some(isBusy) ? BUSY_POLL_MS : IDLE_POLL_MS;
    },
  });
  const refresh = useCallback(() => queryClient.invalidateQueries({ queryKey: options.queryKey }), [queryClient, options.queryKey]);
  return { query, refresh };
}
