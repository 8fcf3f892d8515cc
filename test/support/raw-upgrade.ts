import net from "node:net";

/**
 * One raw HTTP request on a fresh connection to 127.0.0.1:`port`: the request line for `path`, a Host
 * header, then exactly `headerLines`. Returns everything the server sent within `ms` (or until it
 * closed) and the status line's code (0 if none). For upgrades a client library would refuse to send.
 */
export async function rawHttpExchange(port: number, path: string, headerLines: string[], ms = 3000): Promise<{ status: number; bytes: Buffer }> {
  const sock = net.connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  sock.on("data", (c: Buffer) => chunks.push(c));
  sock.on("error", () => undefined);
  sock.write(`${[`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...headerLines].join("\r\n")}\r\n\r\n`);
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    sock.once("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
  sock.destroy();
  const bytes = Buffer.concat(chunks);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(bytes.toString("latin1"))?.[1] ?? 0), bytes };
}
