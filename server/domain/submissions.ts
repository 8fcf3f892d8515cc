/**
 * Exam submissions: the names, lifetimes and file names shared by the service that asks for a viewer
 * or an export and the jobs that make them. Pure: no I/O.
 *
 * A submission is the `submission` snapshot the freeze takes inside a student VM's qcow2 (internal,
 * so no file of its own), or its preserved copy once a reset or delete has destroyed that disk.
 */

/** The internal snapshot every frozen student VM's disk holds (ClassCheckpoint kind "submission"). */
export const SUBMISSION_SNAPSHOT = "submission";

/** A viewer is discarded this long after it was opened unless closed before. */
export const VIEWER_TTL_MS = 30 * 60_000;

/** An export's files are deleted this long after it was requested. */
export const EXPORT_TTL_MS = 60 * 60_000;

/** A discard that failed is queued again after this long (the host may be back). */
export const DISCARD_RETRY_MS = 60_000;

export type ViewerState = "creating" | "running" | "closing" | "closed" | "failed";

/** Viewers that hold (or are about to hold) a domain and a disk. */
export const OPEN_VIEWER_STATES: readonly ViewerState[] = ["creating", "running"];

/** Never `vmdesk-<uuid>`: the monitor and reconciler, which own those names, leave viewers alone. */
export function viewerDomainName(viewerId: string): string {
  return `vmdesk-view-${viewerId}`;
}

export function viewerVolumeName(viewerId: string): string {
  return `${viewerDomainName(viewerId)}.qcow2`;
}

/** The preserved submission of a VM whose own disk no longer holds it. */
export function submissionVolumeName(vmId: string): string {
  return `submission-${vmId}.qcow2`;
}

/**
 * The archive member name of a student's disk: the username with anything but letters, digits, `.`,
 * `_` and `-` replaced, no leading dot (no hidden files, no `..`), at most 64 characters, `.qcow2`
 * appended; a name already taken (a student with two VMs over the class's life) gets `-2`, `-3`, ….
 */
export function exportFileName(username: string, taken: ReadonlySet<string>): string {
  let base = username.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 64) || "student";
  if (base === "_") base = "student";
  let name = `${base}.qcow2`;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}.qcow2`;
  return name;
}
