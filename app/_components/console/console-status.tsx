"use client";

import { useMutation } from "@tanstack/react-query";
import { useTRPCClient } from "../../_lib/trpc";
import { FormError } from "../ui";
import { statusText, type ConsoleStatus } from "./use-console-session";

/**
 * The console's status line, with the one action that helps in each state. `canStart`: the VM row
 * says stopped or paused (after a 4005 close the row may still read "running" for a moment, and a
 * start would be refused).
 */
export function ConsoleStatusLine({ vmId, status, message, retryInS, onReconnect, canStart }: { vmId: string; status: ConsoleStatus; message: string; retryInS: number | null; onReconnect: () => void; canStart: boolean }) {
  const client = useTRPCClient();
  const start = useMutation({ mutationFn: () => (message === "paused" ? client.vm.resume.mutate({ id: vmId }) : client.vm.start.mutate({ id: vmId })) });
  const shown = status === "idle" ? "disconnected" : status;
  return (
    <div className={`console-status console-status-${shown}`} data-testid="console-status" data-status={shown} role="status" aria-live="polite">
      <span className="console-status-dot" aria-hidden="true" />
      <span data-testid="console-status-text">{statusText(status, message, retryInS)}</span>
      {status === "disconnected" && message ? <span className="muted console-status-why">({message})</span> : null}
      {status === "stopped" && canStart && (message === "stopped" || message === "paused") ? (
        <button type="button" className="btn btn-sm btn-primary" disabled={start.isPending} onClick={() => start.mutate()} data-testid="console-start">
          {message === "paused" ? "Resume" : "Start"}
        </button>
      ) : null}
      {status === "expired" || status === "disconnected" || status === "error" ? (
        <button type="button" className="btn-link" onClick={onReconnect} data-testid="console-status-reconnect">
          {status === "disconnected" ? "retry now" : "reconnect"}
        </button>
      ) : null}
      <FormError error={start.error} testId="console-start-error" />
    </div>
  );
}
