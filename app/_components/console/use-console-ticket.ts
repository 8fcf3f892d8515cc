"use client";

import { useCallback } from "react";
import { errorCode, errorMessage, useTRPCClient, type RouterOutputs } from "../../_lib/trpc";

export type ConsoleKind = "vnc" | "serial";
export type ConsoleMode = "control" | "view";

export type ConsoleTicket = RouterOutputs["console"]["open"];

/** Why a ticket could not be had, in the terms the status line uses. */
export type TicketFailure = { reason: "stopped" | "not-found" | "signed-out" | "forbidden"; message: string } | { reason: "transient"; message: string };

export function classifyTicketError(err: unknown): TicketFailure {
  switch (errorCode(err)) {
    case "PRECONDITION_FAILED":
      return { reason: "stopped", message: errorMessage(err) };
    case "NOT_FOUND":
      return { reason: "not-found", message: "VM not found: it was deleted or is not yours" };
    case "UNAUTHORIZED":
      return { reason: "signed-out", message: "Your session ended: sign in again" };
    case "FORBIDDEN":
      return { reason: "forbidden", message: errorMessage(err) };
    default:
      return { reason: "transient", message: errorMessage(err) || "could not reach the portal" };
  }
}

/** The ticket's URL as an absolute ws(s):// address, whether the server sent a path or a full URL. */
export function websocketUrl(url: string): string {
  const u = new URL(url, window.location.href);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.toString();
}

/**
 * Returns a function that asks the server for a fresh console ticket. Tickets are single-use and
 * live at most a minute, so callers request one immediately before every (re)connect.
 */
export function useConsoleTicket() {
  const client = useTRPCClient();
  return useCallback((id: string, kind: ConsoleKind, mode: ConsoleMode): Promise<ConsoleTicket> => client.console.open.mutate({ id, kind, mode }), [client]);
}

/** The VM's current state, re-read to explain a refused or dropped connection. */
export function useVmStateReader() {
  const client = useTRPCClient();
  return useCallback(async (id: string): Promise<{ state: string } | { missing: true } | null> => {
    try {
      const vm = await client.vm.get.query({ id });
      return { state: vm.state };
    } catch (err) {
      return errorCode(err) === "NOT_FOUND" ? { missing: true } : null;
    }
  }, [client]);
}
