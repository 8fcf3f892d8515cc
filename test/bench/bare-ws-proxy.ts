/**
 * A reference for `bench:console`, not part of vmdesk: the smallest websocket → TCP proxy the `ws`
 * package allows (no ticket, no database, no checks; Nagle off, binary frames, no compression). It
 * shows what a connect costs with no authorization at all, i.e. the floor under vmdesk's proxy.
 */
import net from "node:net";
import { WebSocketServer } from "ws";

const target = Number(process.env.BENCH_SOURCE_PORT);
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, handleProtocols: () => "binary" });
wss.on("connection", (ws) => {
  const tcp = net.connect(target, "127.0.0.1");
  tcp.setNoDelay(true);
  tcp.on("data", (b) => ws.send(b, { binary: true }));
  ws.on("message", (b: Buffer) => tcp.write(b));
  tcp.on("close", () => ws.close());
  tcp.on("error", () => ws.close());
  ws.on("close", () => tcp.destroy());
});
wss.on("listening", () => process.send?.({ port: (wss.address() as net.AddressInfo).port }));
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
