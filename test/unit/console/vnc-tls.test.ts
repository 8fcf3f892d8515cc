/**
 * The remote-display handshake fails closed: a VNC server that offers plain security types (None, VNC
 * password) or VeNCrypt without an x509 subtype is never opened, so a host whose QEMU lacks TLS is not
 * proxied (and never silently downgraded). A fake RFB server on loopback plays the host.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { openVncOverTls, portalTlsCredentials } from "../../../server/console/vnc-tls.ts";

const creds = { ca: Buffer.from(""), cert: Buffer.from(""), key: Buffer.from("") };
let server: net.Server | null = null;

afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = null;
});

/** A server that greets with RFB 3.8 and then answers the client with `script` (called per client chunk). */
async function fakeServer(script: (chunk: Buffer, socket: net.Socket, step: number) => void): Promise<number> {
  server = net.createServer((socket) => {
    let step = 0;
    socket.write("RFB 003.008\n");
    socket.on("data", (chunk) => script(chunk, socket, step++));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return (server!.address() as net.AddressInfo).port;
}

describe("openVncOverTls", () => {
  it("refuses a display that offers only plain security types", async () => {
    const port = await fakeServer((_c, s, step) => {
      if (step === 0) s.write(Buffer.from([2, 1, 2])); // None, VNC password
    });
    await expect(openVncOverTls({ host: "127.0.0.1", port }, creds, 2_000)).rejects.toThrow(/does not offer TLS \(security types 1, 2\)/);
  });

  it("refuses VeNCrypt without an x509 subtype (anonymous TLS or plain)", async () => {
    const port = await fakeServer((_c, s, step) => {
      if (step === 0) s.write(Buffer.from([1, 19]));
      if (step === 1) s.write(Buffer.from([0, 2]));
      if (step === 2) {
        const subtypes = Buffer.alloc(1 + 1 + 8);
        subtypes.writeUInt8(0, 0); // version accepted
        subtypes.writeUInt8(2, 1);
        subtypes.writeUInt32BE(257, 2); // TLSNone
        subtypes.writeUInt32BE(256, 6); // Plain
        s.write(subtypes);
      }
    });
    await expect(openVncOverTls({ host: "127.0.0.1", port }, creds, 2_000)).rejects.toThrow(/offers no x509 TLS \(VeNCrypt subtypes 257, 256\)/);
  });

  it("gives up on a server that never answers, within its bound", async () => {
    server = net.createServer(() => undefined);
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const t0 = Date.now();
    await expect(openVncOverTls({ host: "127.0.0.1", port }, creds, 300)).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("a server flooding the handshake is cut off", async () => {
    const port = await fakeServer((_c, s, step) => {
      if (step === 0) s.write(Buffer.concat([Buffer.from([255]), Buffer.alloc(255, 1), Buffer.alloc(8192, 7)]));
    });
    await expect(openVncOverTls({ host: "127.0.0.1", port }, creds, 2_000)).rejects.toThrow(/too much|does not offer TLS/);
  });
});

describe("portalTlsCredentials", () => {
  it("is null for transports other than qemu+tls and for a pkipath outside the credentials directory", () => {
    expect(portalTlsCredentials("qemu+ssh://root@h/system", "/creds")).toBeNull();
    expect(portalTlsCredentials("qemu:///system", "/creds")).toBeNull();
    expect(portalTlsCredentials("qemu+tls://h/system?pkipath=/etc/ssl", "/creds")).toBeNull();
  });
});
