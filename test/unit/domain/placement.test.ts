import { describe, expect, it } from "vitest";
import {
  growthRefusal,
  IMAGE_BONUS,
  place,
  placeMany,
  RANKED_MAX,
  type PlacementHost,
  type PlacementRequest,
  type PlacementResult,
} from "../../../server/domain/placement.ts";

/** 8 pCPUs × 4, 16 GiB × 1.0, 100 GiB free, nothing placed, has image "img-debian". */
function host(name: string, over: Partial<PlacementHost> = {}): PlacementHost {
  return {
    id: `id-${name}`,
    name,
    state: "up",
    cpus: 8,
    memoryMiB: 16384,
    diskFreeGiB: 100,
    cpuRatio: 4,
    memoryRatio: 1,
    allocated: { vcpus: 0, memoryMiB: 0, diskGiB: 0 },
    labels: {},
    images: new Set(["img-debian"]),
    ...over,
  };
}

function request(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { vcpus: 1, memoryMiB: 1024, diskGiB: 10, image: { id: "img-debian", name: "debian", copyable: false }, ...over };
}

const used = (vcpus: number, memoryMiB: number, diskGiB = 0) => ({ vcpus, memoryMiB, diskGiB });

function chosen(result: PlacementResult): string | null {
  return result.ok ? result.hostName : null;
}

function reasons(result: PlacementResult): string[] {
  return result.refusals.map((r) => r.reason);
}

/** Which host name each result chose, counted. */
function tally(results: PlacementResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) if (r.ok) out[r.hostName] = (out[r.hostName] ?? 0) + 1;
  return out;
}

describe("place: filters", () => {
  it.each([
    ["excluded", host("h1"), request({ excludeHostIds: new Set(["id-h1"]) }), 'host "h1" is excluded from this placement'],
    ["maintenance", host("h2", { state: "maintenance" }), request(), 'host "h2" is in maintenance'],
    ["down", host("h2", { state: "down" }), request(), 'host "h2" is down'],
    ["disabled", host("h2", { state: "disabled" }), request(), 'host "h2" is disabled'],
    ["a missing label", host("h1"), request({ requiredLabels: { gpu: "yes" } }), 'host "h1" lacks label gpu=yes'],
    ["a label with another value", host("h1", { labels: { gpu: "no" } }), request({ requiredLabels: { gpu: "yes" } }), 'host "h1" lacks label gpu=yes (it has gpu=no)'],
    ["an image that cannot be copied", host("h5", { images: new Set() }), request(), 'host "h5" does not have image "debian" and it cannot be copied'],
    ["vCPUs", host("h3", { cpus: 4, allocated: used(14, 0) }), request({ vcpus: 4 }), 'host "h3": vCPUs 2 free of 4 × 4.0 (needs 4)'],
    ["memory", host("h3", { memoryMiB: 4096, allocated: used(0, 128) }), request({ memoryMiB: 4096 }), 'host "h3": memory 3968 MiB free of 4096 MiB × 1.0 (needs 4096 MiB)'],
    ["disk", host("h4", { diskFreeGiB: 20, allocated: used(0, 0, 12) }), request({ diskGiB: 10 }), 'host "h4": disk 8 GiB free of 20 GiB measured, 12 GiB promised (needs 10 GiB)'],
    [
      "hard anti-affinity",
      host("h4"),
      request({ antiAffinity: { mode: "hard", members: { "id-h4": 1 } } }),
      'host "h4" already runs a VM of this group (anti-affinity)',
    ],
  ] as const)("refuses a host for %s with one exact reason", (_, h, req, reason) => {
    const result = place([h], req);
    expect(result.ok).toBe(false);
    expect(result.refusals).toEqual([{ hostId: h.id, hostName: h.name, reason }]);
  });

  it("takes an exact fit on vCPUs, memory and disk at once", () => {
    const h = host("h1", { cpus: 2, cpuRatio: 2, memoryMiB: 2048, diskFreeGiB: 30, allocated: used(3, 1024, 20) });
    expect(chosen(place([h], request({ vcpus: 1, memoryMiB: 1024, diskGiB: 10 })))).toBe("h1");
    expect(reasons(place([h], request({ vcpus: 2, memoryMiB: 1024, diskGiB: 10 })))).toEqual(['host "h1": vCPUs 1 free of 2 × 2.0 (needs 2)']);
  });

  it("counts overcommit ratios without binary rounding error (100 MiB × 0.29 offers 29 MiB)", () => {
    expect(chosen(place([host("h1", { memoryMiB: 100, memoryRatio: 0.29 })], request({ memoryMiB: 29 })))).toBe("h1");
    expect(reasons(place([host("h1", { memoryMiB: 1000, memoryRatio: 1.5, allocated: used(0, 1400) })], request({ memoryMiB: 101 })))).toEqual([
      'host "h1": memory 100 MiB free of 1000 MiB × 1.5 (needs 101 MiB)',
    ]);
  });

  it("shows no negative free amount when usage exceeds a lowered ratio", () => {
    expect(reasons(place([host("h1", { cpus: 2, cpuRatio: 1, allocated: used(5, 0) })], request()))).toEqual(['host "h1": vCPUs 0 free of 2 × 1.0 (needs 1)']);
  });

  it("names only the first check a host fails, in filter order", () => {
    const everythingWrong = host("h1", { state: "down", labels: {}, images: new Set(), cpus: 1, memoryMiB: 1, diskFreeGiB: 0 });
    const req = request({ vcpus: 8, memoryMiB: 8192, diskGiB: 50, requiredLabels: { gpu: "yes" }, antiAffinity: { mode: "hard", members: { "id-h1": 2 } } });
    expect(reasons(place([everythingWrong], req))).toEqual(['host "h1" is down']);
    expect(reasons(place([{ ...everythingWrong, state: "up" }], req))).toEqual(['host "h1" lacks label gpu=yes']);
    expect(reasons(place([{ ...everythingWrong, state: "up", labels: { gpu: "yes" } }], req))).toEqual(['host "h1" does not have image "debian" and it cannot be copied']);
    expect(reasons(place([host("h1", { diskFreeGiB: 0 })], request({ vcpus: 8, antiAffinity: { mode: "hard", members: { "id-h1": 1 } } })))).toEqual([
      'host "h1": disk 0 GiB free of 0 GiB measured, 0 GiB promised (needs 10 GiB)',
    ]);
  });

  it("accepts up and degraded hosts only", () => {
    expect(chosen(place([host("h1", { state: "degraded" })], request()))).toBe("h1");
    expect(chosen(place([host("h1", { state: "up" })], request()))).toBe("h1");
  });

  it("requires every required label pair and ignores the host's other labels", () => {
    const hosts = [host("h1", { labels: { gpu: "yes" } }), host("h2", { labels: { gpu: "yes", zone: "b", rack: "7" } })];
    const result = place(hosts, request({ requiredLabels: { gpu: "yes", zone: "b" } }));
    expect(chosen(result)).toBe("h2");
    expect(reasons(result)).toEqual(['host "h1" lacks label zone=b']);
  });

  it("does not take a label from the prototype chain", () => {
    expect(reasons(place([host("h1")], request({ requiredLabels: { constructor: "x" } })))).toEqual(['host "h1" lacks label constructor=x']);
  });

  it("places a copyable image on a host that lacks it", () => {
    expect(chosen(place([host("h1", { images: new Set() })], request({ image: { id: "img-debian", name: "debian", copyable: true } })))).toBe("h1");
  });

  it("hard anti-affinity refuses only hosts that hold a member", () => {
    const result = place([host("h1"), host("h2"), host("h3")], request({ antiAffinity: { mode: "hard", members: { "id-h1": 1, "id-h2": 0 } } }));
    expect(result.ok && result.ranked.map((r) => r.hostId).sort()).toEqual(["id-h2", "id-h3"]);
    expect(reasons(result)).toEqual(['host "h1" already runs a VM of this group (anti-affinity)']);
  });
});

describe("place: pinned and excluded hosts", () => {
  const fleet = [host("h1"), host("h2", { allocated: used(16, 8192) }), host("h3", { state: "maintenance" })];

  it("a pin chooses that host even where another has more room", () => {
    const result = place(fleet, request({ pinnedHostId: "id-h2" }));
    expect(result).toMatchObject({ ok: true, hostName: "h2", refusals: [] });
    expect(result.ok && result.ranked.map((r) => r.hostId)).toEqual(["id-h2"]);
  });

  it("a refused pinned host gives its reason, and only its reason", () => {
    const result = place(fleet, request({ pinnedHostId: "id-h3" }));
    expect(result).toEqual({
      ok: false,
      refusals: [{ hostId: "id-h3", hostName: "h3", reason: 'host "h3" is in maintenance' }],
      message: 'the pinned host cannot take this VM: host "h3" is in maintenance',
    });
    expect(reasons(place(fleet, request({ pinnedHostId: "id-h2", memoryMiB: 16384 })))).toEqual(['host "h2": memory 8192 MiB free of 16384 MiB × 1.0 (needs 16384 MiB)']);
  });

  it("an unknown pinned host fails without refusing the others", () => {
    expect(place(fleet, request({ pinnedHostId: "id-nope" }))).toEqual({ ok: false, refusals: [], message: 'the pinned host "id-nope" is not one of the 3 known hosts' });
  });

  it("an excluded host is refused and the next best chosen; a pinned host that is excluded is refused", () => {
    const result = place(fleet, request({ excludeHostIds: new Set(["id-h1"]) }));
    expect(chosen(result)).toBe("h2");
    expect(reasons(result)).toEqual(['host "h1" is excluded from this placement', 'host "h3" is in maintenance']);
    expect(reasons(place(fleet, request({ pinnedHostId: "id-h1", excludeHostIds: new Set(["id-h1"]) })))).toEqual(['host "h1" is excluded from this placement']);
  });
});

describe("place: ranking", () => {
  const half = host("half", { allocated: used(16, 8192) });
  const empty = host("empty");
  const full = host("nearly-full", { allocated: used(28, 14336) });

  it("spread picks the host with the most capacity left, pack the least", () => {
    expect(chosen(place([half, full, empty], request()))).toBe("empty");
    expect(chosen(place([half, full, empty], request({ policy: "spread" })))).toBe("empty");
    expect(chosen(place([half, full, empty], request({ policy: "pack" })))).toBe("nearly-full");
  });

  it("weighs vCPU and memory fractions left after placement, averaged", () => {
    // After one more 1-vCPU, 1 GiB VM: cpu-heavy keeps 1/32 of its vCPUs and 15/16 of its memory.
    const cpuHeavy = host("cpu-heavy", { allocated: used(30, 0) });
    const memHeavy = host("mem-heavy", { allocated: used(0, 14336) });
    const result = place([cpuHeavy, memHeavy], request({ vcpus: 1, memoryMiB: 1024 }));
    expect(result.ok && result.ranked).toEqual([
      { hostId: "id-mem-heavy", score: (31 / 32 + 1 / 16) / 2 + IMAGE_BONUS },
      { hostId: "id-cpu-heavy", score: (1 / 32 + 15 / 16) / 2 + IMAGE_BONUS },
    ]);
  });

  it("ranks a degraded host below every up host, whatever its room, and uses it when nothing else fits", () => {
    const degraded = host("a-degraded", { state: "degraded" });
    const result = place([degraded, full], request());
    expect(chosen(result)).toBe("nearly-full");
    expect(result.ok && result.ranked.map((r) => r.hostId)).toEqual(["id-nearly-full", "id-a-degraded"]);
    expect(chosen(place([degraded, full], request({ policy: "pack" })))).toBe("nearly-full");
    expect(chosen(place([degraded, host("h2", { state: "down" })], request()))).toBe("a-degraded");
  });

  it("soft anti-affinity prefers fewer group members before capacity", () => {
    const members = { "id-empty": 2, "id-half": 1 };
    expect(chosen(place([empty, half, full], request({ antiAffinity: { mode: "soft", members } })))).toBe("nearly-full");
    expect(chosen(place([empty, half], request({ antiAffinity: { mode: "soft", members } })))).toBe("half");
  });

  it("the image bonus breaks a near-tie but not a wider capacity gap", () => {
    const copyable = { id: "img-debian", name: "debian", copyable: true };
    const withImage = host("with-image", { allocated: used(3, 1024) });
    const without = host("without", { images: new Set() });
    // Capacity gaps: (3/32 + 1/16) / 2 ≈ 0.078 > IMAGE_BONUS, then (1/32) / 2 ≈ 0.016 < IMAGE_BONUS.
    expect(chosen(place([withImage, without], request({ image: copyable })))).toBe("without");
    expect(chosen(place([host("with-image", { allocated: used(1, 0) }), without], request({ image: copyable })))).toBe("with-image");
  });

  it("the image bonus never beats anti-affinity", () => {
    const copyable = { id: "img-debian", name: "debian", copyable: true };
    const withImage = host("with-image");
    const without = host("without", { images: new Set(), allocated: used(1, 0) });
    expect(chosen(place([withImage, without], request({ image: copyable, antiAffinity: { mode: "soft", members: { "id-with-image": 1 } } })))).toBe("without");
  });

  it("breaks exact ties by host name, then id", () => {
    expect(chosen(place([host("b"), host("a"), host("c")], request()))).toBe("a");
    const twins = [host("same", { id: "id-2" }), host("same", { id: "id-1" })];
    expect(place(twins, request())).toMatchObject({ ok: true, hostId: "id-1" });
  });

  it(`ranked lists at most ${RANKED_MAX} passing hosts, best first, scores descending`, () => {
    const fleet = Array.from({ length: 9 }, (_, i) => host(`h${i}`, { allocated: used(i, i * 512) }));
    const result = place(fleet, request());
    if (!result.ok) throw new Error(result.message);
    expect(result.ranked.map((r) => r.hostId)).toEqual(["id-h0", "id-h1", "id-h2", "id-h3", "id-h4"]);
    const scores = result.ranked.map((r) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    const two = place(fleet.slice(0, 2), request());
    expect(two.ok && two.ranked).toHaveLength(2);
  });
});

describe("place: determinism and failure", () => {
  /** Seeded shuffle, so a failure is reproducible. */
  function shuffled<T>(xs: readonly T[], seed: number): T[] {
    const out = xs.slice();
    let s = seed;
    for (let i = out.length - 1; i > 0; i--) {
      s = (s * 1103515245 + 12345) % 2147483648;
      const j = s % (i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  const fleet = [
    host("h1", { allocated: used(4, 4096) }),
    host("h2", { allocated: used(4, 4096) }),
    host("h3", { state: "degraded" }),
    host("h4", { allocated: used(2, 8192), labels: { zone: "b" } }),
    host("h5", { state: "maintenance" }),
    host("h6", { allocated: used(4, 4096), images: new Set() }),
  ];
  const req = request({ image: { id: "img-debian", name: "debian", copyable: true }, antiAffinity: { mode: "soft", members: { "id-h4": 1 } } });

  it("gives the same result for the same input", () => {
    expect(place(fleet, req)).toEqual(place(fleet, req));
  });

  it("chooses and ranks the same whatever the order of the hosts", () => {
    const expected = place(fleet, req);
    if (!expected.ok) throw new Error(expected.message);
    expect(expected.hostName).toBe("h1");
    for (let seed = 1; seed <= 20; seed++) {
      const result = place(shuffled(fleet, seed), req);
      expect(result.ok && { hostId: result.hostId, ranked: result.ranked }).toEqual({ hostId: expected.hostId, ranked: expected.ranked });
    }
  });

  it("when nothing fits, every host appears in refusals and the message counts them by check", () => {
    const result = place(fleet, request({ memoryMiB: 16385 }));
    expect(result.ok).toBe(false);
    expect(result.refusals.map((r) => r.hostName)).toEqual(["h1", "h2", "h3", "h4", "h5", "h6"]);
    expect(result.ok || result.message).toBe("no host can take this VM: 6 hosts refused (1 for state, 1 for image, 4 for memory)");
    expect(place([], request())).toEqual({ ok: false, refusals: [], message: "no host can take this VM: there are no hosts" });
  });

  it.each([
    ["negative vCPUs", request({ vcpus: -1 })],
    ["zero vCPUs", request({ vcpus: 0 })],
    ["NaN memory", request({ memoryMiB: Number.NaN })],
    ["infinite disk", request({ diskGiB: Number.POSITIVE_INFINITY })],
    ["negative disk", request({ diskGiB: -5 })],
    ["a fractional member count", request({ antiAffinity: { mode: "soft", members: { "id-h1": 0.5 } } })],
  ] as const)("throws on a request with %s", (_, req) => {
    expect(() => place([host("h1")], req)).toThrow(RangeError);
  });

  it.each([
    ["NaN cpus", { cpus: Number.NaN }],
    ["a zero cpu ratio", { cpuRatio: 0 }],
    ["negative free disk", { diskFreeGiB: -1 }],
    ["negative allocated memory", { allocated: used(0, -1) }],
    ["infinite memory", { memoryMiB: Number.POSITIVE_INFINITY }],
  ] as const)("throws on a host with %s, naming it", (_, over) => {
    expect(() => place([host("h1", over)], request())).toThrow(/host "h1"/);
  });
});

describe("placeMany", () => {
  const three = () => [host("h1"), host("h2"), host("h3")];

  it("spreads a class of 9 on 3 equal hosts 3/3/3 with soft anti-affinity, even under pack", () => {
    const members = {};
    for (const policy of ["spread", "pack"] as const) {
      const results = placeMany(three(), Array.from({ length: 9 }, () => request({ policy, antiAffinity: { mode: "soft", members } })));
      expect(results.every((r) => r.ok)).toBe(true);
      expect(tally(results)).toEqual({ h1: 3, h2: 3, h3: 3 });
    }
  });

  it("spreads 9 on 3 equal hosts 3/3/3 by capacity alone, in turn", () => {
    const results = placeMany(three(), Array.from({ length: 9 }, () => request()));
    expect(tally(results)).toEqual({ h1: 3, h2: 3, h3: 3 });
    expect(results.slice(0, 3).map(chosen)).toEqual(["h1", "h2", "h3"]);
  });

  it("pack fills one host up to its limit before the next", () => {
    // 16 GiB hosts, 4 GiB VMs: four per host.
    const results = placeMany(three(), Array.from({ length: 10 }, () => request({ policy: "pack", memoryMiB: 4096 })));
    expect(results.map(chosen)).toEqual(["h1", "h1", "h1", "h1", "h2", "h2", "h2", "h2", "h3", "h3"]);
  });

  it("counts earlier placements against hard anti-affinity and fails the request that has no host left", () => {
    const results = placeMany(three(), Array.from({ length: 4 }, () => request({ antiAffinity: { mode: "hard", members: {} } })));
    expect(results.slice(0, 3).map(chosen).sort()).toEqual(["h1", "h2", "h3"]);
    expect(results[3]).toMatchObject({ ok: false, message: "no host can take this VM: 3 hosts refused (3 for anti-affinity)" });
  });

  it("keeps anti-affinity groups apart, and adds to the members each request brings", () => {
    const a = (members: Record<string, number>) => request({ antiAffinity: { mode: "hard", members, group: "a" } });
    const b = request({ antiAffinity: { mode: "hard", members: {}, group: "b" }, pinnedHostId: "id-h1" });
    const results = placeMany(three(), [a({ "id-h2": 1 }), b, a({ "id-h2": 1 })]);
    expect(results.map(chosen)).toEqual(["h1", "h1", "h3"]);
  });

  it("a copied image is on its host for the requests after it", () => {
    const copyable = { id: "img-new", name: "new", copyable: true };
    const hosts = [host("h1", { images: new Set() }), host("h2", { images: new Set(), allocated: used(1, 0) })];
    const results = placeMany(hosts, [request({ image: copyable, pinnedHostId: "id-h2" }), request({ image: { ...copyable, copyable: false } })]);
    expect(results.map(chosen)).toEqual(["h2", "h2"]);
  });

  it("a failed request changes nothing for the ones after it", () => {
    const results = placeMany([host("h1", { memoryMiB: 2048 })], [request({ memoryMiB: 4096 }), request({ memoryMiB: 2048 })]);
    expect(results.map(chosen)).toEqual([null, "h1"]);
  });

  it("does not mutate its inputs", () => {
    const hosts = three();
    const requests = Array.from({ length: 5 }, () => request({ image: { id: "img-x", name: "x", copyable: true }, antiAffinity: { mode: "soft", members: { "id-h1": 1 } } }));
    const before = structuredClone({ hosts, requests });
    placeMany(hosts, requests);
    expect({ hosts, requests }).toEqual(before);
    expect([...hosts[0]!.images]).toEqual(["img-debian"]);
  });

  it("is deterministic", () => {
    const requests = Array.from({ length: 7 }, (_, i) => request({ vcpus: 1 + (i % 3), policy: i % 2 ? "pack" : "spread" }));
    expect(placeMany(three(), requests)).toEqual(placeMany(three(), requests));
  });
});

describe("dedicated pCPUs and huge pages", () => {
  it("skips hosts without enough free pCPUs for a dedicated VM, with the reason; others are unaffected", () => {
    const hosts = [host("a", { freePcpus: 1 }), host("b", { freePcpus: 3 })];
    const result = place(hosts, request({ vcpus: 2, dedicatedCpus: 2 }));
    expect(chosen(result)).toBe("b");
    expect(reasons(result)).toEqual([`host "a": dedicated pCPUs 1 free (needs 2)`]);
    expect(chosen(place([host("a")], request({ vcpus: 2 })))).toBe("a");
    const none = place([host("a")], request({ dedicatedCpus: 1 }));
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.message).toMatch(/1 for dedicated pCPUs/);
  });

  it("checks free huge pages of the requested size", () => {
    const hosts = [host("a", { hugepages: [{ sizeKiB: 2048, free: 100 }] }), host("b", { hugepages: [{ sizeKiB: 1_048_576, free: 4 }, { sizeKiB: 2048, free: 600 }] })];
    const result = place(hosts, request({ hugepages: { sizeKiB: 2048, pages: 512 } }));
    expect(chosen(result)).toBe("b");
    expect(reasons(result)).toEqual([`host "a": huge pages of 2048 KiB 100 free (needs 512)`]);
    expect(place([host("c")], request({ hugepages: { sizeKiB: 2048, pages: 1 } })).ok).toBe(false);
  });

  it("placeMany takes pCPUs and pages from the hosts it fills", () => {
    const results = placeMany([host("a", { freePcpus: 2, hugepages: [{ sizeKiB: 2048, free: 64 }] })], [
      request({ dedicatedCpus: 1, hugepages: { sizeKiB: 2048, pages: 48 } }),
      request({ dedicatedCpus: 1, hugepages: { sizeKiB: 2048, pages: 48 } }),
      request({ dedicatedCpus: 1 }),
      request({ dedicatedCpus: 1 }),
    ]);
    expect(results.map(chosen)).toEqual(["a", null, "a", null]);
  });

  it("refuses nonsense requests", () => {
    expect(() => place([host("a")], request({ dedicatedCpus: -1 }))).toThrow(RangeError);
    expect(() => place([host("a")], request({ hugepages: { sizeKiB: 0, pages: 1 } }))).toThrow(RangeError);
  });
});

describe("growthRefusal: a resize on the VM's own host", () => {
  it("passes growth that fits, and shrinking parts whatever the host holds", () => {
    expect(growthRefusal(host("a", { allocated: used(30, 16000) }), { vcpus: 2, memoryMiB: 384, diskGiB: 10 })).toBeNull();
    expect(growthRefusal(host("a", { allocated: used(40, 20000), diskFreeGiB: 0 }), { vcpus: -2, memoryMiB: 0, diskGiB: 0 })).toBeNull();
  });
  it("refuses the first part that does not fit, with placement's reason", () => {
    expect(growthRefusal(host("a", { allocated: used(31, 0) }), { vcpus: 2, memoryMiB: 0, diskGiB: 0 })).toBe('host "a": vCPUs 1 free of 8 × 4.0 (needs 2)');
    expect(growthRefusal(host("a", { allocated: used(1, 16000) }), { vcpus: 1, memoryMiB: 512, diskGiB: 0 })).toBe('host "a": memory 384 MiB free of 16384 MiB × 1.0 (needs 512 MiB)');
    expect(growthRefusal(host("a", { diskFreeGiB: 20, allocated: used(0, 0, 15) }), { vcpus: 0, memoryMiB: 0, diskGiB: 6 })).toMatch(/disk 5 GiB free of 20 GiB measured, 15 GiB promised \(needs 6 GiB\)/);
  });
  it("ignores state and images: the VM is there already", () => {
    expect(growthRefusal(host("a", { state: "maintenance", images: new Set() }), { vcpus: 1, memoryMiB: 0, diskGiB: 0 })).toBeNull();
  });
});
