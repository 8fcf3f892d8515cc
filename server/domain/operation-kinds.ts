/**
 * Every kind of operation vmdesk performs on a VM. The services enqueue only these, and the job
 * handlers are a record keyed by this list: a kind without a handler (or a handler for a kind nobody
 * can enqueue) does not compile. Stored as text in `Operation.kind`, so rows written by another
 * version are checked with `isOperationKind` before they are run.
 */
export const OPERATION_KINDS = ["create", "start", "shutdown", "poweroff", "reboot", "pause", "resume", "delete", "reset", "revert", "snapshot", "snapshot-delete", "freeze", "migrate", "ha-restart", "resize", "submission-view", "submission-discard"] as const;

export type OperationKind = (typeof OPERATION_KINDS)[number];

export function isOperationKind(kind: string): kind is OperationKind {
  return (OPERATION_KINDS as readonly string[]).includes(kind);
}
