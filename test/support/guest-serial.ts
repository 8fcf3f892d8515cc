/** A local guest for integration tests: created, booted to its shell, driven through its serial console, removed. */
import fs from "node:fs";
import net from "node:net";
import { serialLogPath, serialSocketPath } from "../../server/jobs/vm-layout.ts";
import type { AuthenticatedUser } from "../../server/services/auth-service.ts";
import { settle, waitFor, type Portal } from "./harness.ts";

/** The demo guest prints this once a keyboard reaches a shell on its serial console and on tty1. */
export const READY_MARKER = "vmdesk-demo-ready";

/** Whether the guest of a local domain has printed READY_MARKER (its serial log, kept by virtlogd). */
export function guestPrompted(domainName: string): boolean {
  try {
    return fs.readFileSync(serialLogPath(domainName), "latin1").includes(READY_MARKER);
  } catch {
    return false;
  }
}

export interface LocalGuest {
  id: string;
  domainName: string;
}

/** Creates a 1-vCPU, 128 MiB demo VM as `user` and waits until the guest has booted (its serial log says so). */
export async function bootedGuest(portal: Portal, user: AuthenticatedUser, name: string): Promise<LocalGuest> {
  const created = await portal.caller(user).vm.create({ name, imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1 });
  const op = await settle(portal, user, created.operation.id);
  if (op.status !== "succeeded") throw new Error(`creating ${name} ${op.status}: ${op.error}`);
  await waitFor("guest ready on serial", async () => guestPrompted(created.vm.domainName), 120_000);
  return { id: created.vm.id, domainName: created.vm.domainName };
}

/** Deletes the VM and waits for it, ignoring failures (for afterAll: the suite's verdict is already in). */
export async function deleteQuietly(portal: Portal, user: AuthenticatedUser, vm: LocalGuest | null): Promise<void> {
  if (!vm) return;
  const del = await portal.caller(user).vm.delete({ id: vm.id }).catch(() => null);
  if (del) await settle(portal, user, del.operation.id).catch(() => undefined);
}

/** Types `command` on the guest's serial console and resolves with its output up to `doneMarker`. */
export async function runOnSerial(domainName: string, command: string, doneMarker: string, timeoutMs: number): Promise<string> {
  const sock = net.connect(serialSocketPath(domainName));
  let out = "";
  sock.on("data", (chunk: Buffer) => (out += chunk.toString("latin1")));
  sock.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  try {
    // The readiness banner is printed before login starts the shell (which flushes typed input):
    // wait for the shell's prompt before typing.
    const prompted = out.length;
    await waitFor(`a shell prompt on ${domainName}'s serial console`, async () => {
      if (out.slice(prompted).includes("vmdesk-demo:")) return true;
      sock.write("\r");
      return false;
    }, 60_000, 1000);
    sock.write(`${command}; echo ${doneMarker.slice(0, 6)}''${doneMarker.slice(6)}\r`);
    // The echoed command line must not count as its own completion, hence the split marker.
    await waitFor(`"${doneMarker}" on ${domainName}'s serial console`, async () => out.includes(doneMarker), timeoutMs, 200);
    return out;
  } finally {
    sock.destroy();
  }
}
