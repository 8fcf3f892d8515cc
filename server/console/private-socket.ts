/**
 * Remote consoles reach the proxy's sessions through a private unix socket each, so a session treats
 * a display over TLS on another host, or a serial console streamed by libvirt, exactly like a local
 * socket: the same filter, hub, backpressure and limits, with no second code path to get wrong.
 *
 * The socket lives in a fresh directory of mode 0700 (only the portal's own user can connect), takes
 * exactly one connection, and is removed as soon as that connection is made or after `acceptMs`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { ConsoleStream } from "../hypervisor/driver.ts";

export async function listenOnce(onConnection: (client: net.Socket) => void, acceptMs: number, onUnused: () => void): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "vmdesk-console-"));
  const socketPath = path.join(dir, "s");
  const server = net.createServer();
  const cleanup = () => {
    server.close();
    void rm(dir, { recursive: true, force: true });
  };
  const timer = setTimeout(() => {
    cleanup();
    onUnused();
  }, acceptMs);
  timer.unref();
  server.once("connection", (client) => {
    clearTimeout(timer);
    cleanup();
    onConnection(client);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, resolve);
    });
  } catch (err) {
    clearTimeout(timer);
    cleanup();
    onUnused();
    throw err;
  }
  return socketPath;
}

/**
 * Guest output the proxy has not read yet, at most. libvirt's console stream cannot be paused from
 * here (it delivers whatever the guest prints), so past this the console is let go and the session
 * ends as "console lost", rather than a guest flooding its serial console growing the portal's memory.
 */
export const CONSOLE_FRONT_MAX_BUFFER = 4 * 1024 * 1024;

/** A libvirt console stream as a private socket: the guest's output to it, its input to the guest. */
export function frontForConsole(stream: ConsoleStream, acceptMs: number): Promise<string> {
  return listenOnce(
    (client) => {
      client.setNoDelay(true);
      stream.onData((chunk) => {
        if (client.destroyed) return;
        client.write(chunk);
        if (client.writableLength > CONSOLE_FRONT_MAX_BUFFER) client.destroy();
      });
      stream.onEnd(() => client.end());
      // Input is small and rare (typing); one write at a time keeps its order.
      let writing: Promise<void> = Promise.resolve();
      client.on("data", (data: Buffer) => {
        writing = writing.then(() => stream.write(data)).catch(() => {
          client.destroy();
        });
      });
      client.on("error", () => undefined);
      client.once("close", () => void stream.close());
    },
    acceptMs,
    () => void stream.close(),
  );
}
