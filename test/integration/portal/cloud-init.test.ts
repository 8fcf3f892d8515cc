/**
 * cloud-init (NoCloud) end to end: SSH keys kept through the REST API, a VM created with a seed disc,
 * the real demo guest reading it at boot (host name and every key's fingerprint on its serial
 * console), hostile inputs refused, the seed volume gone with the VM.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleRestRequest } from "../../../server/api/rest.ts";
import { openApiDocument } from "../../../server/api/openapi.ts";
import { db } from "../../../server/db/client.ts";
import { parseSshPublicKey } from "../../../server/domain/ssh-key.ts";
import { serialLogPath } from "../../../server/jobs/vm-layout.ts";
import type { AuthenticatedUser } from "../../../server/services/auth-service.ts";
import { sshFingerprint } from "../../../server/services/ssh-key-service.ts";
import { openApiChecker } from "../../support/openapi-check.ts";
import { domainExists, settle, startPortal, virsh, waitFor, type Portal } from "../../support/harness.ts";
import { KEYS } from "../../support/ssh-keys.ts";

const ORIGIN = "http://127.0.0.1";
let portal: Portal;
let alice: AuthenticatedUser;
let bob: AuthenticatedUser;
let aliceToken: string;
let bobToken: string;
let vm: { id: string; domainName: string } | null = null;

/** The REST API exactly as app/api/v1 serves it (the same handler), without Next; responses held to the OpenAPI document. */
async function rest(token: string, method: string, urlPath: string, body?: unknown) {
  const req = new Request(`${ORIGIN}/api/v1${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const res = await handleRestRequest(req);
  const json = (await res.json()) as Record<string, any>;
  (await openApiChecker(ORIGIN, async () => openApiDocument())).check({ method, path: urlPath, status: res.status, body: json, headers: res.headers });
  return { status: res.status, body: json };
}

const fingerprintOf = (line: string) => {
  const parsed = parseSshPublicKey(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return sshFingerprint(parsed.key.blob);
};

beforeAll(async () => {
  portal = await startPortal("vmdesk_it_cloud_init");
  alice = await portal.newTenant({ vms: 2, vcpus: 2, memoryMiB: 512, diskGiB: 4 });
  bob = await portal.newTenant({ vms: 1, vcpus: 1, memoryMiB: 256, diskGiB: 2 });
  aliceToken = (await portal.caller(alice).auth.createToken({ name: "ci" })).token;
  bobToken = (await portal.caller(bob).auth.createToken({ name: "ci" })).token;
});
afterAll(async () => {
  if (vm && domainExists(vm.domainName)) {
    const del = await portal.caller(alice).vm.delete({ id: vm.id }).catch(() => null);
    if (del) await settle(portal, alice, del.operation.id).catch(() => undefined);
  }
  await portal?.close();
});

describe("SSH keys under /api/v1/me/ssh-keys", () => {
  it("are validated, fingerprinted like ssh-keygen, unique per user, and someone else's are not found", async () => {
    const ed = await rest(aliceToken, "POST", "/me/ssh-keys", { publicKey: KEYS.ed25519.line });
    expect(ed.status).toBe(201);
    expect(ed.body).toMatchObject({ name: "alice@laptop", type: "ssh-ed25519", bits: 256, fingerprint: KEYS.ed25519.fingerprint, publicKey: KEYS.ed25519.line });
    const rsa = await rest(aliceToken, "POST", "/me/ssh-keys", { name: "work", publicKey: KEYS.rsa2048.line });
    expect(rsa.status).toBe(201);
    expect(rsa.body).toMatchObject({ name: "work", bits: 2048, fingerprint: KEYS.rsa2048.fingerprint });

    // The same key again (even with another comment) is a conflict.
    const again = await rest(aliceToken, "POST", "/me/ssh-keys", { publicKey: KEYS.ed25519.line.replace("alice@laptop", "other") });
    expect(again.status).toBe(409);
    const weak = await rest(aliceToken, "POST", "/me/ssh-keys", { publicKey: `ssh-rsa ${KEYS.ed25519.line.split(" ")[1]}` });
    expect(weak.status).toBe(400);
    expect(JSON.stringify(weak.body)).toMatch(/not ssh-rsa/);
    expect((await rest(aliceToken, "POST", "/me/ssh-keys", { publicKey: `${KEYS.ed25519.line}\n${KEYS.rsa2048.line}` })).status).toBe(400);
    expect((await rest(aliceToken, "POST", "/me/ssh-keys", { publicKey: "x".repeat(9000) })).status).toBe(400);

    const list = await rest(aliceToken, "GET", "/me/ssh-keys");
    expect(list.status).toBe(200);
    expect(list.body.map((k: { fingerprint: string }) => k.fingerprint)).toEqual([KEYS.ed25519.fingerprint, KEYS.rsa2048.fingerprint]);

    // Bob has his own list; Alice's key is not his to delete.
    const bobs = await rest(bobToken, "POST", "/me/ssh-keys", { publicKey: KEYS.nistp384.line });
    expect(bobs.status).toBe(201);
    expect((await rest(bobToken, "GET", "/me/ssh-keys")).body).toHaveLength(1);
    expect((await rest(bobToken, "DELETE", `/me/ssh-keys/${ed.body.id}`)).status).toBe(404);
    expect((await rest(aliceToken, "GET", "/me/ssh-keys")).body).toHaveLength(2);
  });
});

describe("POST /api/v1/vms with cloudInit", () => {
  it("refuses hostile inputs with 400 (and someone else's key with 404) and creates nothing", async () => {
    const base = { name: "ci-hostile", imageId: portal.imageId, vcpus: 1, memoryMiB: 128, diskGiB: 1 };
    const bobKeyId = (await rest(bobToken, "GET", "/me/ssh-keys")).body[0].id as string;
    const cases: Array<[string, unknown, number]> = [
      ["oversized user-data", { userData: `#!/bin/sh\n#${"x".repeat(64 * 1024)}` }, 400],
      ["invalid YAML", { userData: "#cloud-config\npackages: [htop\n" }, 400],
      ["YAML that is not a mapping", { userData: "#cloud-config\n- reboot\n" }, 400],
      ["neither cloud-config nor script", { userData: "runcmd: [reboot]\n" }, 400],
      ["hostname with a newline", { hostname: "web1\nruncmd: [reboot]" }, 400],
      ["hostname with a dot", { hostname: "a.b" }, 400],
      ["too many key ids", { sshKeys: Array(51).fill(bobKeyId) }, 400],
      ["someone else's key", { sshKeys: [bobKeyId] }, 404],
    ];
    for (const [what, cloudInit, status] of cases) {
      const res = await rest(aliceToken, "POST", "/vms", { ...base, cloudInit });
      expect(res.status, what).toBe(status);
    }
    expect((await rest(aliceToken, "GET", "/vms")).body).toHaveLength(0);
    expect((await portal.caller(alice).auth.quota()).used.vms).toBe(0);
  });

  it("boots the demo guest with the seed: host name and every key's fingerprint on its serial console; the seed goes with the VM", async () => {
    const ownKey = KEYS.nistp256.line;
    const userData = `#cloud-config\n# the user's own\nssh_authorized_keys:\n  - ${ownKey}\n`;
    const created = await rest(aliceToken, "POST", "/vms", {
      name: "ci guest",
      imageId: portal.imageId,
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      cloudInit: { hostname: "ci-web1", userData, sshKeys: "all" },
    });
    expect(created.status).toBe(202);
    vm = { id: created.body.vm.id, domainName: created.body.vm.domainName };
    const op = await settle(portal, alice, created.body.operation.id);
    expect(op.error).toBeNull();
    expect(op.status).toBe("succeeded");

    const host = await db().host.findUniqueOrThrow({ where: { id: portal.hostId } });
    const seedPath = `${host.poolPath}/${vm.domainName}-cidata.iso`;
    expect(fs.existsSync(seedPath)).toBe(true);
    const xml = virsh("dumpxml", vm.domainName);
    expect(xml).toMatch(new RegExp(`<disk type='file' device='cdrom'>[\\s\\S]*?<source file='${seedPath.replace(/[.]/g, "\\.")}'[\\s\\S]*?<target dev='hda' bus='ide'/>[\\s\\S]*?<readonly/>`));
    expect(virsh("vol-list", host.poolName)).toContain(`${vm.domainName}-cidata.iso`);

    const log = serialLogPath(vm.domainName);
    await waitFor("guest ready on serial", async () => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("vmdesk-demo-ready"), 120_000);
    const serial = fs.readFileSync(log, "utf8");
    expect(serial).toContain("vmdesk-cloudinit hostname=ci-web1");
    const printed = [...serial.matchAll(/vmdesk-cloudinit key (SHA256:[A-Za-z0-9+/]+)/g)].map((m) => m[1]).sort();
    const expected = [KEYS.ed25519.line, KEYS.rsa2048.line, ownKey].map(fingerprintOf).sort();
    expect(expected).toEqual([KEYS.ed25519.fingerprint, KEYS.rsa2048.fingerprint, KEYS.nistp256.fingerprint].sort());
    expect(printed).toEqual(expected);
    // Readiness still comes after the seed's lines.
    expect(serial.indexOf("vmdesk-cloudinit hostname=")).toBeLessThan(serial.indexOf("vmdesk-demo-ready"));

    // A key deleted later does not change the VM: it keeps the copy it was created with.
    const keys = (await rest(aliceToken, "GET", "/me/ssh-keys")).body as Array<{ id: string }>;
    expect((await rest(aliceToken, "DELETE", `/me/ssh-keys/${keys[0]!.id}`)).status).toBe(200);
    const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id }, select: { cloudInit: true } });
    expect(row.cloudInit).toMatchObject({ hostname: "ci-web1", sshKeys: [KEYS.ed25519.line, KEYS.rsa2048.line] });

    const del = await rest(aliceToken, "DELETE", `/vms/${vm.id}`);
    expect(del.status).toBe(202);
    expect((await settle(portal, alice, del.body.operation.id)).status).toBe("succeeded");
    expect(domainExists(vm.domainName)).toBe(false);
    expect(fs.existsSync(seedPath)).toBe(false);
    expect(fs.existsSync(`${host.poolPath}/${vm.domainName}.qcow2`)).toBe(false);
  });
});
