/**
 * The console benchmark's stand-in for a VM's VNC display, run as its own process (forked by
 * console.ts) so it never shares an event loop with the client or the proxy. Speaks the protocol in
 * console-wire.ts; reports its port over IPC.
 */
import net from "node:net";
import { BANNER, CLIENT_HANDSHAKE, STREAM_CHUNK, patternSlice } from "./console-wire.ts";

const TICK_MS = 20;

function serve(sock: net.Socket): void {
  sock.setNoDelay(true);
  sock.on("error", () => undefined);
  sock.write(BANNER);
  let buf = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    const need = CLIENT_HANDSHAKE.length + 8;
    if (buf.length < need) return;
    const len = buf.readInt32BE(CLIENT_HANDSHAKE.length + 4);
    if (buf.length < need + len) return;
    const cmd = buf.subarray(need, need + len).toString("latin1").split(" ");
    const rest = buf.subarray(need + len);
    sock.off("data", onData);
    if (cmd[0] === "echo") {
      sock.on("data", (c: Buffer) => sock.write(c));
      if (rest.length) sock.write(rest);
    } else if (cmd[0] === "stream") {
      stream(sock, Number(cmd[1]), Number(cmd[2]));
    } else {
      sock.destroy();
    }
  };
  sock.on("data", onData);
}

/** Writes `total` pattern bytes (0 = until the peer closes), at `rate` bytes/s (0 = unthrottled), with backpressure. */
function stream(sock: net.Socket, total: number, rate: number): void {
  let sent = 0;
  const limit = total > 0 ? total : Number.MAX_SAFE_INTEGER;
  if (rate === 0) {
    const pump = () => {
      while (sent < limit && !sock.destroyed) {
        const n = Math.min(STREAM_CHUNK, limit - sent);
        const ok = sock.write(patternSlice(sent, n));
        sent += n;
        if (!ok) return void sock.once("drain", pump);
      }
    };
    pump();
    return;
  }
  const t0 = performance.now();
  const timer = setInterval(() => {
    if (sock.destroyed) return void clearInterval(timer);
    if (sock.writableLength > STREAM_CHUNK) return;
    const due = Math.min(STREAM_CHUNK, Math.min(limit, Math.floor(((performance.now() - t0) / 1000) * rate)) - sent);
    if (due > 0) {
      sock.write(patternSlice(sent, due));
      sent += due;
    }
  }, TICK_MS);
  sock.once("close", () => clearInterval(timer));
}

const server = net.createServer(serve);
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as net.AddressInfo).port });
});
process.on("disconnect", () => process.exit(0));
