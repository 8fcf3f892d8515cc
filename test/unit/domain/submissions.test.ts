import { describe, expect, it } from "vitest";
import { exportFileName, submissionVolumeName, viewerDomainName } from "../../../server/domain/submissions.ts";

describe("submission names", () => {
  it("viewer domains never take the vmdesk-<uuid> shape the monitor and reconciler own", () => {
    const id = "0b9d7c56-3a3c-4d4e-9b8f-0123456789ab";
    expect(viewerDomainName(id)).toBe(`vmdesk-view-${id}`);
    expect(viewerDomainName(id)).not.toMatch(/^vmdesk-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(submissionVolumeName(id)).toBe(`submission-${id}.qcow2`);
  });

  it("export files are named by username, sanitised, unique", () => {
    const taken = new Set<string>();
    const name = (u: string) => {
      const n = exportFileName(u, taken);
      taken.add(n);
      return n;
    };
    expect(name("alice")).toBe("alice.qcow2");
    expect(name("alice")).toBe("alice-2.qcow2");
    expect(name("../../etc/passwd")).toBe("__.._etc_passwd.qcow2");
    expect(name(".hidden")).toBe("_hidden.qcow2");
    expect(name("a b/c\\d\u00e9")).toBe("a_b_c_d_.qcow2");
    expect(name("x".repeat(200))).toBe(`${"x".repeat(64)}.qcow2`);
    for (const n of taken) expect(n).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]*\.qcow2$/);
  });
});
