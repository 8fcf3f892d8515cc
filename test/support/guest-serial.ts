/** The local guest's serial console (its unix socket on this machine), driven from tests. */
import net from "node:net";
import { serialSocketPath } from "../../server/jobs/vm-layout.ts";
import { waitFor } from "./harness.ts";

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
