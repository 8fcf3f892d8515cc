/**
 * Calls that make QEMU work for seconds (a guest start, a snapshot taken or reverted with its RAM),
 * per host, bounded. A start holds one of the host connection's few native threads for
 * seconds (QEMU boots under TCG compete for the same cores); with the worker's 8 operations all
 * starting at once, every thread was busy starting and the quick calls of the other operations
 * (pool, volume, define, the monitor's state reads) queued behind them until their 15 s call timeout
 * fired: measured in bench:classroom as "ensureDirPool timed out", retries from the top, and
 * provisioning 3–4× slower. A class "revert all" did the same with reverts ("call timed out before it
 * started", every revert retried). Waiting here costs no thread and no timeout.
 */
export class HostSlots {
  private readonly active = new Map<string, number>();
  /**
   * Waiters per host, by group (who asked for the call), served round-robin: one tenant's twenty
   * snapshots, or a teacher's "revert all", take one turn in each round, not every turn until they
   * are done, so another user's start waits for at most one call per group ahead of it.
   */
  private readonly waiting = new Map<string, Map<string, Array<() => void>>>();

  constructor(readonly perHost: number) {}

  async run<T>(hostId: string, fn: () => Promise<T>, group = ""): Promise<T> {
    if ((this.active.get(hostId) ?? 0) >= this.perHost) {
      await new Promise<void>((resolve) => {
        const groups = this.waiting.get(hostId) ?? new Map<string, Array<() => void>>();
        this.waiting.set(hostId, groups);
        groups.set(group, [...(groups.get(group) ?? []), resolve]);
      });
    } else {
      this.active.set(hostId, (this.active.get(hostId) ?? 0) + 1);
    }
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.nextWaiter(hostId);
      if (next) next();
      else this.active.set(hostId, (this.active.get(hostId) ?? 1) - 1);
    }
  }

  /** Starts running now on the host (for tests and metrics). */
  running(hostId: string): number {
    return this.active.get(hostId) ?? 0;
  }

  /** The first waiter of the group whose turn it is; that group goes to the back of the round. */
  private nextWaiter(hostId: string): (() => void) | undefined {
    const groups = this.waiting.get(hostId);
    const first = groups?.entries().next().value;
    if (!groups || !first) return undefined;
    const [group, queue] = first;
    const next = queue.shift();
    groups.delete(group);
    if (queue.length > 0) groups.set(group, queue);
    if (groups.size === 0) this.waiting.delete(hostId);
    return next;
  }
}

/** Two heavy calls per host leave the connection's other native threads to quick calls. */
export const heavyCallSlots = new HostSlots(2);
