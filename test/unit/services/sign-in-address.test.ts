import { describe, expect, it } from "vitest";
import { signInAddressKey } from "../../../server/services/rate-limit.ts";

describe("the address a sign-in counts against", () => {
  it("is the IPv4 address itself, also when IPv4-mapped", () => {
    expect(signInAddressKey("127.0.0.2")).toBe("127.0.0.2");
    expect(signInAddressKey("::ffff:127.0.0.2")).toBe("127.0.0.2");
    expect(signInAddressKey("::FFFF:10.1.2.3")).toBe("10.1.2.3");
  });

  it("is the /64 for IPv6, however the address is written", () => {
    expect(signInAddressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64");
    expect(signInAddressKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(signInAddressKey("2001:0db8:0001:0002:0:0:0:ffff")).toBe("2001:db8:1:2::/64");
    expect(signInAddressKey("::1")).toBe("0:0:0:0::/64");
    expect(signInAddressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });

  it("keeps distinct addresses distinct and unknown ones together", () => {
    expect(signInAddressKey("127.0.0.1")).not.toBe(signInAddressKey("127.0.0.2"));
    expect(signInAddressKey("2001:db8:1:2::1")).not.toBe(signInAddressKey("2001:db8:1:3::1"));
    expect(signInAddressKey(null)).toBe("unknown");
    expect(signInAddressKey("not-an-address")).toBe("not-an-address");
  });
});
