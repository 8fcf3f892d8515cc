/**
 * Which libvirt connection URIs an admin may store for a host. The portal runs as root and opens these
 * URIs itself, and libvirt's remote driver turns some of them into programs, sockets and key files
 * (`qemu+ext:///system?command=…` runs any program; `?netcat=` names the remote command; `?socket=`
 * any local socket; `?no_verify=1` skips certificate checks; `?keyfile=` reads any file as an SSH key,
 * `?pkipath=` any directory as TLS credentials).
 * So the grammar here is an allow-list, stricter than libvirt's own: one transport from a short list,
 * plain ASCII only, no percent-encoding outside parameter values, each parameter at most once, and
 * parameter names compared case-insensitively after decoding (libvirt decodes and compares them so).
 */

export const HOST_TRANSPORTS = ["qemu", "qemu+tls", "qemu+ssh", "qemu+tcp", "qemu+unix"] as const;
export type HostTransport = (typeof HOST_TRANSPORTS)[number];

export interface HostUriRules {
  /** Absolute directory that `keyfile=`, `known_hosts=` and `pkipath=` must lie inside; null refuses them. */
  keyfileDir: string | null;
}

export interface ParsedHostUri {
  transport: HostTransport;
  user: string | null;
  /** Empty for local URIs (`qemu:///system`, `qemu+unix:///system`). */
  host: string;
  port: number | null;
  path: "/system" | "/session";
  params: Record<string, string>;
  /** True when the connection goes to this machine's own daemon without a network hop. */
  local: boolean;
}

export type HostUriResult = { ok: true; uri: ParsedHostUri } | { ok: false; reason: string };

/** Parameters refused outright, with the reason given to the admin. */
const FORBIDDEN_PARAMS: Record<string, string> = {
  command: "runs a program on this machine",
  netcat: "names a program to run on the remote host",
  socket: "points the connection at an arbitrary local socket",
  no_verify: "turns off certificate verification",
  known_hosts_verify: "can turn off SSH host key verification",
  name: "passes a different URI to the remote daemon",
  proxy: "selects a different remote proxy program",
  mode: "selects a different remote daemon",
};
/** Parameters accepted, and on which transports. */
const ALLOWED_PARAMS: Record<string, readonly HostTransport[]> = {
  keyfile: ["qemu+ssh"],
  known_hosts: ["qemu+ssh"],
  no_tty: ["qemu+ssh"],
  sshauth: ["qemu+ssh"],
  tls_priority: ["qemu", "qemu+tls"],
  pkipath: ["qemu+tls"],
};
/** Parameters naming a file or directory of credentials: only inside the configured directory. */
const PATH_PARAMS = new Set(["keyfile", "known_hosts", "pkipath"]);

const fail = (reason: string): HostUriResult => ({ ok: false, reason });

function decodePercent(s: string): string | null {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return null;
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** `p` is absolute, has no `.`/`..`/empty segments, and lies strictly inside `dir`. */
export function isPathInside(p: string, dir: string): boolean {
  if (!p.startsWith("/") || !dir.startsWith("/")) return false;
  const parts = p.split("/").slice(1);
  if (parts.some((s) => s === "" || s === "." || s === "..")) return false;
  const base = dir.split("/").filter((s) => s !== "");
  if (base.some((s) => s === "." || s === "..")) return false;
  return parts.length > base.length && base.every((s, i) => parts[i] === s);
}

/** Parses and checks a host URI against the allow-list; the reason names what was refused and why. */
export function parseHostUri(raw: string, rules: HostUriRules): HostUriResult {
  if (raw.length === 0 || raw.length > 1000) return fail("must be 1 to 1000 characters");
  if (!/^[\x21-\x7e]+$/.test(raw)) return fail("must be plain ASCII without spaces or control characters");
  const m = /^([^:/?#]*):\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?(#.*)?$/.exec(raw);
  if (!m) return fail("must look like transport://[user@host[:port]]/system, e.g. qemu:///system or qemu+ssh://root@host/system");
  const [, scheme = "", authority = "", path = "", query, fragment] = m;
  if (!(HOST_TRANSPORTS as readonly string[]).includes(scheme)) {
    return fail(`transport "${scheme}" is not allowed: use one of ${HOST_TRANSPORTS.join(", ")}`);
  }
  const transport = scheme as HostTransport;
  if (fragment !== undefined) return fail("must not have a #fragment");
  if (path !== "/system" && path !== "/session") return fail('path must be "/system" or "/session"');

  const am = /^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/.exec(authority);
  if (!am) return fail("user@host:port may only hold a plain user name, a host name or address, and a port (no passwords, percent-encoding or extra @)");
  const [, user, host = "", portText] = am;
  const port = portText === undefined ? null : Number(portText);
  if (port !== null && (port < 1 || port > 65535)) return fail("port must be 1-65535");
  if (transport === "qemu+unix" && (host || user || port !== null)) return fail("qemu+unix connects to this machine's own socket: no user, host or port");
  if ((user || port !== null) && !host) return fail("a user or port needs a host");

  const params: Record<string, string> = {};
  if (query !== undefined && query !== "") {
    for (const pair of query.split(/[&;]/)) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      const name = decodePercent(eq < 0 ? pair : pair.slice(0, eq))?.toLowerCase();
      const value = decodePercent(eq < 0 ? "" : pair.slice(eq + 1));
      if (name === undefined || value === null) return fail("has a malformed percent-encoding in its parameters");
      if (name in FORBIDDEN_PARAMS) return fail(`parameter "${name}" is not allowed: it ${FORBIDDEN_PARAMS[name]}`);
      const allowedOn = ALLOWED_PARAMS[name];
      if (!allowedOn) return fail(`parameter "${name}" is not supported`);
      if (!allowedOn.includes(transport)) return fail(`parameter "${name}" does not apply to ${transport}`);
      if (name in params) return fail(`parameter "${name}" is given twice`);
      if (!/^[\x21-\x7e]*$/.test(value)) return fail(`parameter "${name}" must be plain ASCII without spaces or control characters`);
      if (PATH_PARAMS.has(name)) {
        if (!rules.keyfileDir) return fail(`parameter "${name}" is not allowed: no key file directory is configured (VMDESK_HOST_KEYFILE_DIR)`);
        if (!isPathInside(value, rules.keyfileDir)) return fail(`parameter "${name}" must lie inside ${rules.keyfileDir}`);
      }
      params[name] = value;
    }
  }
  const local = host === "" && transport !== "qemu+ssh" && transport !== "qemu+tls" && transport !== "qemu+tcp";
  return { ok: true, uri: { transport, user: user ?? null, host, port, path, params, local } };
}

/** Parameters naming credentials on the portal's own machine: meaningless to another host. */
const PORTAL_CREDENTIAL_PARAMS = new Set(["pkipath", "keyfile", "known_hosts"]);

/**
 * How another host's daemon reaches this one for a peer-to-peer live migration: the host's URI
 * without the portal's credential parameters (the source daemon presents its own identity: for TLS
 * its /etc/pki client certificate, which the destination's allowed-DN list must admit), and the
 * address the guest's state is sent to. Null for a URI that names no remote host.
 */
export function migrationTarget(uri: string): { peerUri: string; address: string } | null {
  const m = /^([^:/?#]+):\/\/(?:[^@/?#]*@)?(\[[^\]]+\]|[^:/?#]*)(?::\d+)?(\/[^?#]*)(?:\?([^#]*))?$/.exec(uri);
  const address = m?.[2];
  if (!m || !address) return null;
  const query = (m[4] ?? "")
    .split(/[&;]/)
    .filter((pair) => pair !== "" && !PORTAL_CREDENTIAL_PARAMS.has(decodeURIComponent(pair.split("=")[0] ?? "").toLowerCase()));
  const base = uri.replace(/\?.*$/, "");
  return { peerUri: query.length ? `${base}?${query.join("&")}` : base, address };
}

/** Hosts on this machine (no host in the URI, or loopback): their local sockets are reachable from here. */
export function isLocalHostUri(uri: string): boolean {
  try {
    const host = new URL(uri).hostname;
    return host === "" || host === "localhost" || host === "127.0.0.1" || host === "::1" || host === "[::1]";
  } catch {
    return false;
  }
}
