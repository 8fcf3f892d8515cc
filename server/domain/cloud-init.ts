/**
 * cloud-init NoCloud seeds (https://cloudinit.readthedocs.io/en/latest/reference/datasources/nocloud.html).
 * Pure: validates what a user asks for at create time and builds the seed's three files from what the
 * VM row stores. Every file is produced by the YAML library from data, never by pasting user text
 * into YAML, so a hostname, comment or user-data cannot add keys of its own.
 */
import { isMap, isSeq, parseDocument, stringify, type Document } from "yaml";

/** Largest user-data accepted, in UTF-8 bytes. */
export const USER_DATA_MAX_BYTES = 64 * 1024;
/** Aliases a cloud-config may expand (bounds "billion laughs" documents). */
const MAX_ALIASES = 100;
/** RFC 1123 host name label: letters, digits and inner hyphens, 1–63 characters. */
export const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** What a VM stores for its seed (Vm.cloudInit): fixed at create, so later key changes do not alter it. */
export interface CloudInitConfig {
  hostname: string;
  userData: string | null;
  /** authorized_keys lines */
  sshKeys: string[];
}

export interface NoCloudSeed {
  "meta-data": string;
  "user-data": string;
  "network-config": string;
}

export type UserDataKind = "cloud-config" | "script";
export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const byteLength = (s: string) => new TextEncoder().encode(s).length;
const YAML_OUT = { lineWidth: 0 } as const;

/** Vm.cloudInit as the service stored it, or null when the VM has no seed (or the value is not one). */
export function storedCloudInit(value: unknown): CloudInitConfig | null {
  if (!value || typeof value !== "object") return null;
  const v = value as Record<string, unknown>;
  if (typeof v.hostname !== "string" || !Array.isArray(v.sshKeys) || !v.sshKeys.every((k) => typeof k === "string")) return null;
  if (v.userData !== null && v.userData !== undefined && typeof v.userData !== "string") return null;
  return { hostname: v.hostname, userData: (v.userData as string | null | undefined) ?? null, sshKeys: v.sshKeys as string[] };
}

/** A host name for a VM that names none: its display name made into a label, else `vm-` and its id's start. */
export function defaultHostname(vmName: string, vmId: string): string {
  const label = vmName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+/, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return label && HOSTNAME_LABEL.test(label) ? label : `vm-${vmId.slice(0, 8)}`;
}

function parseCloudConfig(text: string): Checked<Document> {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length) return { ok: false, reason: `user-data is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}` };
  try {
    doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    return { ok: false, reason: `user-data is not valid YAML: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}` };
  }
  if (doc.contents !== null && !isMap(doc.contents)) return { ok: false, reason: "#cloud-config user-data must be a YAML mapping" };
  const keys = doc.get("ssh_authorized_keys");
  if (keys !== undefined && !isSeq(keys)) return { ok: false, reason: "ssh_authorized_keys in user-data must be a list" };
  return { ok: true, value: doc };
}

/**
 * User-data is either `#cloud-config` YAML that parses to a mapping, or a script starting with `#!`;
 * at most 64 KiB, no NUL bytes. Anything else (MIME multipart, include files, gzip) is refused.
 */
export function checkUserData(text: string): Checked<UserDataKind> {
  if (byteLength(text) > USER_DATA_MAX_BYTES) return { ok: false, reason: `user-data may have at most ${USER_DATA_MAX_BYTES} bytes` };
  if (text.includes("\u0000")) return { ok: false, reason: "user-data must not contain NUL bytes" };
  if (text.startsWith("#!")) return { ok: true, value: "script" };
  if (!/^#cloud-config[ \t]*(\r?\n|$)/.test(text)) return { ok: false, reason: "user-data must start with #cloud-config (YAML) or #! (a script)" };
  const parsed = parseCloudConfig(text);
  return parsed.ok ? { ok: true, value: "cloud-config" } : parsed;
}

export function checkHostname(name: string): Checked<string> {
  return HOSTNAME_LABEL.test(name) ? { ok: true, value: name } : { ok: false, reason: "hostname must be one label of letters, digits and inner hyphens, at most 63 characters" };
}

/**
 * The seed's files. meta-data: instance-id (the VM's id, so cloud-init runs once per VM) and
 * local-hostname. user-data: the user's cloud-config with the chosen keys appended to
 * `ssh_authorized_keys` (the user's own entries kept, duplicates dropped), the user's script
 * unchanged (keys then go to meta-data `public-keys`), or a cloud-config holding only the keys.
 * network-config: version 2, DHCP on the first Ethernet interface.
 */
export function buildNoCloudSeed(vmId: string, config: CloudInitConfig): NoCloudSeed {
  const kind = config.userData === null ? null : checkUserData(config.userData);
  if (kind && !kind.ok) throw new Error(`stored user-data is invalid: ${kind.reason}`);
  const script = kind?.ok === true && kind.value === "script";
  const meta: Record<string, unknown> = { "instance-id": vmId, "local-hostname": config.hostname };
  if (script && config.sshKeys.length) meta["public-keys"] = [...config.sshKeys];

  let userData: string;
  if (script) {
    userData = config.userData!;
  } else {
    let doc: Document;
    if (config.userData !== null) {
      const parsed = parseCloudConfig(config.userData);
      if (!parsed.ok) throw new Error(`stored user-data is invalid: ${parsed.reason}`);
      doc = parsed.value;
    } else {
      doc = parseDocument("#cloud-config\n");
    }
    if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as Document["contents"];
    if (config.sshKeys.length) {
      const existing = doc.get("ssh_authorized_keys");
      if (isSeq(existing)) {
        const have = new Set(existing.items.map((i) => String((i as { value?: unknown }).value ?? i)));
        for (const key of config.sshKeys) if (!have.has(key)) existing.add(doc.createNode(key));
      } else {
        doc.set("ssh_authorized_keys", doc.createNode([...config.sshKeys]));
      }
    }
    const body = doc.toString(YAML_OUT);
    userData = body.startsWith("#cloud-config\n") ? body : `#cloud-config\n${body}`;
  }

  const network = { version: 2, ethernets: { nic0: { match: { name: "e*" }, dhcp4: true } } };
  return { "meta-data": stringify(meta, YAML_OUT), "user-data": userData, "network-config": stringify(network, YAML_OUT) };
}
