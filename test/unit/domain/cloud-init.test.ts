import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { buildNoCloudSeed, checkHostname, checkUserData, defaultHostname, storedCloudInit, USER_DATA_MAX_BYTES } from "../../../server/domain/cloud-init.ts";
import { ZCloudInitInput } from "../../../server/api/schemas.ts";
import { KEYS } from "../../support/ssh-keys.ts";

const VM_ID = "0b6f7d2e-4c1a-4f7e-9a51-3b1de2a0c9f1";
const keys = [KEYS.ed25519.line, KEYS.rsa2048.line];

describe("checkUserData", () => {
  it("accepts #cloud-config mappings (or an empty one) and #! scripts", () => {
    expect(checkUserData("#cloud-config\npackages: [htop]\n")).toEqual({ ok: true, value: "cloud-config" });
    expect(checkUserData("#cloud-config\n")).toEqual({ ok: true, value: "cloud-config" });
    expect(checkUserData("#cloud-config  \r\nruncmd:\r\n  - [echo, hi]\r\n")).toEqual({ ok: true, value: "cloud-config" });
    expect(checkUserData("#!/bin/sh\necho hi\n")).toEqual({ ok: true, value: "script" });
  });

  it("refuses YAML that does not parse, several documents, a non-mapping, a non-list ssh_authorized_keys, other formats", () => {
    expect(checkUserData("#cloud-config\npackages: [htop\n")).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid YAML/) });
    expect(checkUserData("#cloud-config\na: 1\n---\nb: 2\n")).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid YAML/) });
    expect(checkUserData("#cloud-config\n- a\n- b\n")).toMatchObject({ ok: false, reason: expect.stringMatching(/mapping/) });
    expect(checkUserData("#cloud-config\nssh_authorized_keys: ssh-ed25519 AAAA\n")).toMatchObject({ ok: false, reason: expect.stringMatching(/must be a list/) });
    expect(checkUserData("#cloud-configX\na: 1\n")).toMatchObject({ ok: false });
    expect(checkUserData("packages: [htop]\n")).toMatchObject({ ok: false, reason: expect.stringMatching(/must start with #cloud-config/) });
    expect(checkUserData("Content-Type: multipart/mixed\n")).toMatchObject({ ok: false });
    expect(checkUserData("#!/bin/sh\n\u0000")).toMatchObject({ ok: false, reason: expect.stringMatching(/NUL/) });
  });

  it("bounds the size in bytes and alias expansion", () => {
    const big = `#!/bin/sh\n#${"é".repeat(USER_DATA_MAX_BYTES / 2)}`;
    expect(big.length).toBeLessThan(USER_DATA_MAX_BYTES);
    expect(checkUserData(big)).toMatchObject({ ok: false, reason: expect.stringMatching(/at most 65536 bytes/) });
    const laughs = ["#cloud-config", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`);
    expect(checkUserData(laughs.join("\n"))).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid YAML/) });
  });
});

describe("host names", () => {
  it("are one RFC 1123 label", () => {
    for (const ok of ["web1", "a", "my-vm", "A".repeat(63), "0abc"]) expect(checkHostname(ok).ok, ok).toBe(true);
    for (const bad of ["", "-a", "a-", "a.b", "a b", "a\nb", "web1\n", "é", "A".repeat(64), "a_b"]) expect(checkHostname(bad).ok, JSON.stringify(bad)).toBe(false);
  });

  it("default to the VM's name made into a label, else vm-<id>", () => {
    expect(defaultHostname("My Web Server!", VM_ID)).toBe("my-web-server");
    expect(defaultHostname("  --x--  ", VM_ID)).toBe("x");
    expect(defaultHostname("日本語", VM_ID)).toBe("vm-0b6f7d2e");
    expect(defaultHostname("a".repeat(80), VM_ID)).toBe("a".repeat(63));
    expect(checkHostname(defaultHostname(`life <&> "quoted" ]]>`, VM_ID)).ok).toBe(true);
  });

  it("are validated at the API edge too: no line breaks", () => {
    expect(ZCloudInitInput.safeParse({ hostname: "web1\nruncmd: [reboot]" }).success).toBe(false);
    expect(ZCloudInitInput.safeParse({ hostname: "web1", sshKeys: "all", userData: "#cloud-config\n" }).success).toBe(true);
    expect(ZCloudInitInput.safeParse({ userData: "#cloud-config\n: : :\n  - [" }).success).toBe(false);
    expect(ZCloudInitInput.safeParse({ sshKeys: ["not-a-uuid"] }).success).toBe(false);
    expect(ZCloudInitInput.safeParse({ sshKeys: Array(51).fill(VM_ID) }).success).toBe(false);
    expect(ZCloudInitInput.safeParse({ sshKeys: "some" }).success).toBe(false);
  });
});

describe("buildNoCloudSeed", () => {
  it("without user-data: meta-data with the VM id and host name, the keys in a cloud-config, DHCP on the first NIC", () => {
    const seed = buildNoCloudSeed(VM_ID, { hostname: "web1", userData: null, sshKeys: keys });
    expect(parse(seed["meta-data"])).toEqual({ "instance-id": VM_ID, "local-hostname": "web1" });
    expect(seed["user-data"].startsWith("#cloud-config\n")).toBe(true);
    expect(parse(seed["user-data"])).toEqual({ ssh_authorized_keys: keys });
    expect(parse(seed["network-config"])).toEqual({ version: 2, ethernets: { nic0: { match: { name: "e*" }, dhcp4: true } } });
    // Each key stays on one line (the demo guest greps for them; nothing is folded).
    for (const k of keys) expect(seed["user-data"]).toContain(k);
  });

  it("merges the keys into the user's cloud-config, keeping the user's own and dropping duplicates", () => {
    const userData = `#cloud-config\n# mine\npackages: [htop]\nssh_authorized_keys:\n  - ${KEYS.nistp256.line}\n  - ${KEYS.ed25519.line}\n`;
    const seed = buildNoCloudSeed(VM_ID, { hostname: "web1", userData, sshKeys: keys });
    expect(seed["user-data"].startsWith("#cloud-config\n")).toBe(true);
    expect(seed["user-data"]).toContain("# mine");
    expect(parse(seed["user-data"])).toEqual({ packages: ["htop"], ssh_authorized_keys: [KEYS.nistp256.line, KEYS.ed25519.line, KEYS.rsa2048.line] });
    expect(parse(seed["meta-data"])["public-keys"]).toBeUndefined();
  });

  it("leaves a script untouched and puts the keys into meta-data public-keys", () => {
    const script = "#!/bin/sh\necho 'local-hostname: evil' > /tmp/x\n";
    const seed = buildNoCloudSeed(VM_ID, { hostname: "web1", userData: script, sshKeys: keys });
    expect(seed["user-data"]).toBe(script);
    expect(parse(seed["meta-data"])).toEqual({ "instance-id": VM_ID, "local-hostname": "web1", "public-keys": keys });
  });

  it("cannot be steered by key comments or user-data: the YAML library writes every file", () => {
    const hostile = `${KEYS.ed25519.line.split(" ").slice(0, 2).join(" ")} x: y # z`;
    const seed = buildNoCloudSeed(VM_ID, { hostname: "web1", userData: "#cloud-config\nlocal-hostname: other\n", sshKeys: [hostile] });
    expect(parse(seed["user-data"])).toEqual({ "local-hostname": "other", ssh_authorized_keys: [hostile] });
    expect(parse(seed["meta-data"])).toEqual({ "instance-id": VM_ID, "local-hostname": "web1" });
  });

  it("reads back what the VM row stores, and nothing else", () => {
    expect(storedCloudInit({ hostname: "a", userData: null, sshKeys: ["k"] })).toEqual({ hostname: "a", userData: null, sshKeys: ["k"] });
    expect(storedCloudInit(null)).toBeNull();
    expect(storedCloudInit({ hostname: "a", sshKeys: [1] })).toBeNull();
    expect(storedCloudInit({ hostname: "a", sshKeys: [], userData: 5 })).toBeNull();
  });
});
