import { describe, expect, it } from "vitest";
import { parseSshPublicKey } from "../../../server/domain/ssh-key.ts";
import { sshFingerprint } from "../../../server/services/ssh-key-service.ts";
import { KEYS } from "../../support/ssh-keys.ts";

describe("sshFingerprint", () => {
  it("is what ssh-keygen -lf prints, for every key type", () => {
    for (const [kind, k] of Object.entries(KEYS)) {
      const r = parseSshPublicKey(k.line);
      if (!r.ok) throw new Error(`${kind}: ${r.reason}`);
      expect(sshFingerprint(r.key.blob), kind).toBe(k.fingerprint);
    }
  });
});
