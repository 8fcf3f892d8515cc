/**
 * What a create asks of its host before the domain is defined — the storage pool, the guest networking
 * (filters and NAT network), the class network — is the same for every VM on that host. Provisioning
 * a class asked it once per student, all at the same moment: three to five libvirt calls each,
 * queued on the host connection's threads and in libvirtd beside the starts in flight. In
 * bench:classroom (30 students) the step "preparing storage pool" took a median 2.6–3.2 s per VM,
 * nearly all of it waiting (a refresh of the 30-volume pool itself costs 40 ms).
 *
 * Here each preparation runs once per host connection and key at a time (callers share the one in flight) and is
 * taken as done for a short while after it succeeded. A failed preparation is not remembered, and a
 * failed operation forgets its host's preparations (see the worker), so its retry asks the host
 * again: someone may have removed the pool or the network in between.
 */
export const PREPARATION_FRESH_MS = 15_000;

interface Preparation {
  /** null while in flight. */
  doneAt: number | null;
  promise: Promise<unknown>;
}

/**
 * Keyed by the host's connection object, not its id: a host re-added with another URI (or a test's
 * fresh fake host with a reused id) has a new connection and nothing prepared on it yet.
 */
export class HostPreparations {
  private readonly byConnection = new WeakMap<object, Map<string, Preparation>>();

  constructor(
    private readonly freshMs = PREPARATION_FRESH_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `prepare` unless the same preparation on this host is in flight or succeeded within freshMs. */
  ensure<T>(conn: object, key: string, prepare: () => Promise<T>): Promise<T> {
    let entries = this.byConnection.get(conn);
    if (!entries) this.byConnection.set(conn, (entries = new Map()));
    // Keys name class networks, so a host sees new ones for as long as teachers make classes: only
    // preparations still fresh or in flight are kept.
    for (const [k, e] of entries) if (e.doneAt !== null && this.now() - e.doneAt >= this.freshMs) entries.delete(k);
    const known = entries.get(key);
    if (known && (known.doneAt === null || this.now() - known.doneAt < this.freshMs)) return known.promise as Promise<T>;
    const entry: Preparation = { doneAt: null, promise: Promise.resolve() };
    entry.promise = prepare().then(
      (value) => {
        entry.doneAt = this.now();
        return value;
      },
      (err: unknown) => {
        if (entries.get(key) === entry) entries.delete(key);
        throw err;
      },
    );
    entries.set(key, entry);
    return entry.promise as Promise<T>;
  }

  /** Preparations kept for a host (fresh or in flight). */
  kept(conn: object): number {
    return this.byConnection.get(conn)?.size ?? 0;
  }

  /** Forgets every finished preparation on a host (one in flight finishes for its waiters). */
  forget(conn: object): void {
    const entries = this.byConnection.get(conn);
    for (const [key, entry] of entries ?? []) if (entry.doneAt !== null) entries!.delete(key);
  }
}

export const hostPreparations = new HostPreparations();
