/**
 * A remote serial console reaches the proxy through a private socket (server/console/private-socket).
 * libvirt's console stream cannot be paused from here, so a guest that floods its serial console
 * (`cat /dev/urandom > /dev/ttyS0`) while the proxy is not reading must not grow the portal's memory
 * without bound: past CONSOLE_FRONT_MAX_BUFFER the console is let go. A fake stream stands in for
 * libvirt (pure unit: the socket side is real).
 */
import net from "node:net";
import { describe, expect, it } from "vitest";
import type { ConsoleStream } from "../../../server/hypervisor/driver.ts";
import { CONSOLE_FRONT_MAX_BUFFER, frontForConsole } from "../../../server/console/private-socket.ts";

function fakeStream() {
  let onData: (chunk: Buffer) => void = () => undefined;
  let closed = false;
  const stream: ConsoleStream = {
    onData: (l) => void (onData = l),
    onEnd: () => undefined,
    write: async () => undefined,
    close: async () => void (closed = true),
  };
  return { stream, push: (b: Buffer) => onData(b), closed: () => closed };
}

describe("remote serial console front", () => {
  it("lets the console go instead of buffering a flooding guest's output without end", async () => {
    const fake = fakeStream();
    const socketPath = await frontForConsole(fake.stream, 5_000);
    const reader = net.connect(socketPath);
    await new Promise<void>((resolve) => reader.once("connect", resolve));
    reader.pause(); // the proxy is not reading (a slow client holds its hub back)
    const ended = new Promise<void>((resolve) => reader.once("close", () => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    // 64 MiB of guest output, far past what the socket and the cap hold.
    for (let i = 0; i < 1024; i++) fake.push(chunk);
    await new Promise((r) => setTimeout(r, 200));
    reader.resume();
    await ended;
    expect(fake.closed()).toBe(true);
    expect(CONSOLE_FRONT_MAX_BUFFER).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it("passes output through while the proxy keeps up", async () => {
    const fake = fakeStream();
    const reader = net.connect(await frontForConsole(fake.stream, 5_000));
    await new Promise<void>((resolve) => reader.once("connect", resolve));
    let got = "";
    reader.on("data", (d: Buffer) => (got += d.toString()));
    await new Promise((r) => setTimeout(r, 50));
    fake.push(Buffer.from("vmdesk-demo login: "));
    await expect.poll(() => got, { timeout: 2_000 }).toBe("vmdesk-demo login: ");
    expect(fake.closed()).toBe(false);
    reader.destroy();
  });
});
