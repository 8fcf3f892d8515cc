/**
 * Displays of VMs on remote hosts. A remote host's QEMU listens for VNC on the network, so it must
 * never accept an unauthenticated viewer: every remote host runs VNC with TLS and client-certificate
 * verification (qemu.conf `vnc_tls = 1`, `vnc_tls_x509_verify = 1`; nova's "VeNCrypt" mode), and the
 * proxy is the only client holding a certificate the host's CA signed — the same one it presents to
 * that host's libvirtd (the URI's `pkipath`, or libvirt's default /etc/pki paths).
 *
 * The browser's side does not change: the proxy opens the display over VeNCrypt/X509None, and a
 * private unix socket in front of it speaks plain RFB 3.8 with security type None to the session, so
 * the session's RFB filter, prepared displays, backpressure and limits work exactly as for a local
 * display. A host that offers anything but VeNCrypt with an X509 subtype is refused (fail closed): a
 * display open without TLS is never proxied, and never quietly downgraded.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { isPathInside } from "../domain/host-uri.ts";
import { listenOnce } from "./private-socket.ts";

export interface TlsCredentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

const RFB_VERSION = Buffer.from("RFB 003.008\n", "latin1");
const SECURITY_NONE = 1;
const SECURITY_VENCRYPT = 19;
/** VeNCrypt subtypes: TLS with x509 certificates, then no further authentication. */
const VENCRYPT_X509_NONE = 260;
/** The most a server's handshake may send before we give up on it (security lists, reasons). */
const HANDSHAKE_MAX = 4096;

/**
 * The portal's TLS identity for a qemu+tls host: `pkipath` (inside `credentialsDir`) or libvirt's
 * defaults for root. Null for any other transport: its displays cannot be authenticated this way.
 */
export function portalTlsCredentials(uri: string, credentialsDir: string): TlsCredentials | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== "qemu+tls:") return null;
  const pkipath = url.searchParams.get("pkipath");
  if (pkipath !== null && !isPathInside(path.resolve(pkipath), credentialsDir)) return null;
  const files = pkipath
    ? { ca: path.join(pkipath, "cacert.pem"), cert: path.join(pkipath, "clientcert.pem"), key: path.join(pkipath, "clientkey.pem") }
    : { ca: "/etc/pki/CA/cacert.pem", cert: "/etc/pki/libvirt/clientcert.pem", key: "/etc/pki/libvirt/private/clientkey.pem" };
  try {
    return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
  } catch {
    return null;
  }
}

/** Reads exact byte counts from a socket during a handshake; hands back whatever arrived beyond it. */
class HandshakeReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private total = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.total += chunk.length;
    if (this.total > HANDSHAKE_MAX) return this.fail(new Error("the VNC server sent too much during the handshake"));
    this.buffered.push(chunk);
    this.length += chunk.length;
    this.settle();
  };
  private readonly onEnd = () => this.fail(new Error("the VNC server closed the connection during the handshake"));
  private readonly onError = (err: Error) => this.fail(err);

  constructor(private readonly socket: net.Socket) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
  }

  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.settle();
    });
  }

  async u8(): Promise<number> {
    return (await this.read(1)).readUInt8(0);
  }

  async u32(): Promise<number> {
    return (await this.read(4)).readUInt32BE(0);
  }

  /**
   * Stops reading; returns the bytes that arrived past the handshake. `pause` keeps later bytes in
   * the socket until someone reads them (not before a TLS handshake, which takes the socket over).
   */
  detach(pause = true): Buffer {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("error", this.onError);
    if (pause) this.socket.pause();
    const rest = Buffer.concat(this.buffered);
    this.buffered = [];
    this.length = 0;
    return rest;
  }

  private settle(): void {
    if (!this.waiter || this.length < this.waiter.n) return;
    const all = Buffer.concat(this.buffered);
    const { n, resolve } = this.waiter;
    this.waiter = null;
    this.buffered = all.length > n ? [all.subarray(n)] : [];
    this.length = all.length - n;
    resolve(all.subarray(0, n));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.failure);
  }
}

async function serverReason(reader: HandshakeReader): Promise<string> {
  const n = await reader.u32();
  if (n > HANDSHAKE_MAX) return "(reason too long)";
  return (await reader.read(n)).toString("utf8");
}

/**
 * Opens a remote display: TCP to host:port, RFB 3.8, VeNCrypt 0.2, X509None, TLS with the portal's
 * certificate (the server's checked against the CA and the host's name or address). Resolves with
 * the TLS socket right after the server's SecurityResult: the next bytes are the client's ClientInit.
 */
export async function openVncOverTls(target: { host: string; port: number }, creds: TlsCredentials, timeoutMs: number): Promise<tls.TLSSocket> {
  const raw = net.connect({ host: target.host, port: target.port });
  const timer = setTimeout(() => raw.destroy(new Error(`VNC handshake with ${target.host}:${target.port} timed out`)), timeoutMs);
  try {
    const reader = new HandshakeReader(raw);
    const version = await reader.read(12);
    if (!/^RFB 003\.00[78]\n$/.test(version.toString("latin1"))) throw new Error(`not an RFB 3.7/3.8 server: ${JSON.stringify(version.toString("latin1"))}`);
    raw.write(RFB_VERSION);
    const count = await reader.u8();
    if (count === 0) throw new Error(`the VNC server refused: ${await serverReason(reader)}`);
    const types = [...(await reader.read(count))];
    if (!types.includes(SECURITY_VENCRYPT)) {
      throw new Error(`the host's VNC server does not offer TLS (security types ${types.join(", ")}): set vnc_tls = 1 and vnc_tls_x509_verify = 1 in its qemu.conf`);
    }
    raw.write(Buffer.from([SECURITY_VENCRYPT]));
    const [major, minor] = [...(await reader.read(2))];
    if (major !== 0 || minor! < 2) throw new Error(`unsupported VeNCrypt version ${major}.${minor}`);
    raw.write(Buffer.from([0, 2]));
    if ((await reader.u8()) !== 0) throw new Error("the VNC server refused VeNCrypt 0.2");
    const subtypeCount = await reader.u8();
    const subtypes: number[] = [];
    for (let i = 0; i < subtypeCount; i++) subtypes.push(await reader.u32());
    if (!subtypes.includes(VENCRYPT_X509_NONE)) {
      throw new Error(`the host's VNC server offers no x509 TLS (VeNCrypt subtypes ${subtypes.join(", ")}): set vnc_tls_x509_verify = 1 with certificates in its qemu.conf`);
    }
    const choice = Buffer.alloc(4);
    choice.writeUInt32BE(VENCRYPT_X509_NONE);
    raw.write(choice);
    if ((await reader.u8()) !== 1) throw new Error("the VNC server refused the x509 subtype");
    const early = reader.detach(false);
    if (early.length > 0) throw new Error("the VNC server sent data before the TLS handshake");

    const secure = tls.connect({
      socket: raw,
      ca: creds.ca,
      cert: creds.cert,
      key: creds.key,
      ...(net.isIP(target.host) ? {} : { servername: target.host }),
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(target.host, cert),
    });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    });
    const inner = new HandshakeReader(secure);
    const result = await inner.u32();
    if (result !== 0) throw new Error(`the VNC server refused the portal's certificate: ${await serverReason(inner).catch(() => "no reason given")}`);
    const rest = inner.detach();
    if (rest.length > 0) secure.unshift(rest);
    return secure;
  } catch (err) {
    raw.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A private socket in front of an opened remote display: it greets as an RFB 3.8 server with
 * security None, takes the client's version and choice, then carries everything else both ways
 * unchanged (ClientInit onwards). Returns the socket's path (see private-socket.ts).
 */
export function frontForDisplay(display: tls.TLSSocket, acceptMs: number): Promise<string> {
  return listenOnce((client) => void greet(client, display), acceptMs, () => display.destroy());
}

async function greet(client: net.Socket, display: tls.TLSSocket): Promise<void> {
  const closeBoth = () => {
    client.destroy();
    display.destroy();
  };
  display.once("close", () => client.destroy());
  client.once("close", () => display.destroy());
  try {
    const reader = new HandshakeReader(client);
    client.write(RFB_VERSION);
    const version = (await reader.read(12)).toString("latin1");
    if (version !== "RFB 003.008\n") throw new Error(`client version ${JSON.stringify(version)}`);
    client.write(Buffer.from([1, SECURITY_NONE]));
    if ((await reader.u8()) !== SECURITY_NONE) throw new Error("client chose another security type");
    client.write(Buffer.from([0, 0, 0, 0]));
    const rest = reader.detach();
    if (rest.length > 0) display.write(rest);
    client.setNoDelay(true);
    display.setNoDelay(true);
    client.pipe(display);
    display.pipe(client);
    client.resume();
    display.resume();
  } catch {
    closeBoth();
  }
}
