import { describe, expect, it } from "vitest";
import { isPathInside, migrationTarget, parseHostUri, type HostUriRules } from "../../../server/domain/host-uri.ts";

const rules: HostUriRules = { keyfileDir: "/etc/vmdesk/ssh" };
const check = (uri: string, r: HostUriRules = rules) => parseHostUri(uri, r);

describe("parseHostUri", () => {
  it.each([
    ["qemu:///system", { transport: "qemu", host: "", local: true }],
    ["qemu:///session", { transport: "qemu", path: "/session" }],
    ["qemu+unix:///system", { transport: "qemu+unix", local: true }],
    ["qemu+tcp://10.77.0.11/system", { transport: "qemu+tcp", host: "10.77.0.11", local: false }],
    ["qemu+tcp://127.0.0.1:16509/system", { port: 16509 }],
    ["qemu+tls://hv1.example.org/system", { transport: "qemu+tls", host: "hv1.example.org" }],
    ["qemu://hv1.example.org/system", { transport: "qemu", local: false }],
    ["qemu+ssh://root@hv1.example.org:2222/system", { user: "root", port: 2222 }],
    ["qemu+ssh://root@[fd00::1]/system", { host: "[fd00::1]" }],
    ["qemu+ssh://root@hv1/system?keyfile=/etc/vmdesk/ssh/id_ed25519&no_tty=1", { params: { keyfile: "/etc/vmdesk/ssh/id_ed25519", no_tty: "1" } }],
    ["qemu+tls://10.77.0.11/system?pkipath=/etc/vmdesk/ssh/lab-client", { params: { pkipath: "/etc/vmdesk/ssh/lab-client" } }],
  ])("accepts %s", (uri, expected) => {
    const r = check(uri);
    expect(r.ok ? r.uri : r.reason).toMatchObject(expected);
  });

  it.each([
    // transports
    ["qemu+ext:///system?command=/bin/sh", /transport "qemu\+ext" is not allowed/],
    ["ext:///system", /transport "ext" is not allowed/],
    ["QEMU:///system", /transport "QEMU" is not allowed/],
    ["Qemu+SSH://host/system", /transport/],
    ["qemu+libssh2://host/system", /transport/],
    ["qemu%2Bext:///system", /transport/],
    ["test:///default", /transport/],
    ["xen:///system", /transport/],
    ["qemu+ext%3A///system", /look like|transport/],
    // forbidden parameters, in every spelling
    ["qemu+ssh://host/system?command=/bin/sh", /"command" is not allowed/],
    ["qemu+ssh://host/system?COMMAND=/bin/sh", /"command" is not allowed/],
    ["qemu+ssh://host/system?%63ommand=/bin/sh", /"command" is not allowed/],
    ["qemu+ssh://host/system?%43OMMAND=x", /"command" is not allowed/],
    ["qemu+ssh://host/system?no_tty=1;command=id", /"command" is not allowed/],
    ["qemu+ssh://host/system?netcat=/tmp/x", /"netcat" is not allowed/],
    ["qemu+unix:///system?socket=/tmp/evil.sock", /"socket" is not allowed/],
    ["qemu+tls://host/system?no_verify=1", /"no_verify" is not allowed/],
    ["qemu+tls://host/system?No_Verify=1", /"no_verify" is not allowed/],
    ["qemu+ssh://host/system?known_hosts_verify=ignore", /not allowed/],
    ["qemu+ssh://host/system?name=qemu%2Bext:///system", /"name" is not allowed/],
    ["qemu+ssh://host/system?proxy=native", /"proxy" is not allowed/],
    ["qemu+ssh://host/system?bogus=1", /"bogus" is not supported/],
    ["qemu+tcp://host/system?keyfile=/etc/vmdesk/ssh/k", /does not apply/],
    // TLS credential directories: only inside the credentials directory, only on qemu+tls
    ["qemu+tls://host/system?pkipath=/root/.pki", /"pkipath" must lie inside \/etc\/vmdesk\/ssh/],
    ["qemu+tls://host/system?pkipath=/etc/vmdesk/ssh/../../../tmp", /inside/],
    ["qemu+tls://host/system?PKIPATH=/tmp/evil", /inside/],
    ["qemu+ssh://host/system?pkipath=/etc/vmdesk/ssh/lab", /does not apply/],
    // key files
    ["qemu+ssh://host/system?keyfile=/root/.ssh/id_rsa", /inside \/etc\/vmdesk\/ssh/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/../../shadow", /inside/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/%2e%2e/%2e%2e/shadow", /inside/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/sshx/k", /inside/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh", /inside/],
    ["qemu+ssh://host/system?keyfile=etc/vmdesk/ssh/k", /inside/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/k&keyfile=/root/k", /given twice|inside/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/a&KEYFILE=/etc/vmdesk/ssh/b", /given twice/],
    ["qemu+ssh://host/system?no_tty=1&no_tty=0", /given twice/],
    ["qemu+ssh://host/system?keyfile=%zz", /percent/],
    // userinfo, host, path and whitespace tricks
    ["qemu+ssh://user:secret@host/system", /user@host/],
    ["qemu+ssh://a@b@evil/system", /user@host/],
    ["qemu+ssh://a%40b@evil/system", /user@host/],
    ["qemu+ssh://ho%73t/system", /user@host/],
    ["qemu+unix://host/system", /qemu\+unix/],
    ["qemu+tcp://:16509/system", /needs a host/],
    ["qemu:///embed?root=/", /path/],
    ["qemu:///system/../embed", /path/],
    ["qemu:///syst%65m", /path/],
    ["qemu:///system#frag", /fragment/],
    [" qemu:///system", /ASCII/],
    ["qemu:///system ", /ASCII/],
    ["qemu:///system\n?command=id", /ASCII/],
    ["qemu:///system\t", /ASCII/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/k%0a", /ASCII/],
    ["qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/k%20x", /ASCII/],
    ["qemu:///systém", /ASCII/],
    ["", /1 to 1000/],
    ["qemu:/system", /look like/],
    ["qemu+tcp://host:99999/system", /look like|port/],
  ])("refuses %j", (uri, reason) => {
    const r = check(uri);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it("refuses every key file when no directory is configured", () => {
    const r = check("qemu+ssh://host/system?keyfile=/etc/vmdesk/ssh/k", { keyfileDir: null });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/VMDESK_HOST_KEYFILE_DIR/) });
  });
});

describe("isPathInside", () => {
  it.each([
    ["/srv/images/a.qcow2", "/srv/images", true],
    ["/srv/images/sub/a.qcow2", "/srv/images/", true],
    ["/srv/images", "/srv/images", false],
    ["/srv/imagesx/a", "/srv/images", false],
    ["/srv/images/../etc/shadow", "/srv/images", false],
    ["/srv/images/./a", "/srv/images", false],
    ["/srv/images//a", "/srv/images", false],
    ["srv/images/a", "/srv/images", false],
    ["/dev/sda", "/srv/images", false],
  ])("%s in %s → %s", (p, dir, expected) => {
    expect(isPathInside(p, dir)).toBe(expected);
  });
});

describe("migrationTarget", () => {
  it.each([
    ["qemu+tls://10.77.0.12/system?pkipath=/var/lib/vmdesk/host-credentials/lab-client", { peerUri: "qemu+tls://10.77.0.12/system", address: "10.77.0.12" }],
    ["qemu+ssh://root@hv2.example.org:2222/system?keyfile=/k/id&no_tty=1&known_hosts=/k/kh", { peerUri: "qemu+ssh://root@hv2.example.org:2222/system?no_tty=1", address: "hv2.example.org" }],
    ["qemu+tls://[fd00::12]/system", { peerUri: "qemu+tls://[fd00::12]/system", address: "[fd00::12]" }],
  ])("%s", (uri, expected) => {
    expect(migrationTarget(uri)).toEqual(expected);
  });
  it("has no target for a local URI", () => {
    expect(migrationTarget("qemu:///system")).toBeNull();
  });
});
