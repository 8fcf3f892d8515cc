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
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(readonly perHost: number) {}

  async run<T>(hostId: string, fn: () => Promise<T>): Promise<T> {
    if ((this.active.get(hostId) ?? 0) >= this.perHost) {
      await new Promise<void>((resolve) => this.waiting.set(hostId, [...(this.waiting.get(hostId) ?? []), resolve]));
    } else {
      this.active.set(hostId, (this.active.get(hostId) ?? 0) + 1);
    }
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.waiting.get(hostId)?.shift();
      if (next) next();
      else this.active.set(hostId, (this.active.get(hostId) ?? 1) - 1);
    }
  }

  /** Starts running now on the host (for tests and metrics). */
  running(hostId: string): number {
    return this.active.get(hostId) ?? 0;
  }
}

/** Two heavy calls per host leave the connection's other native threads to quick calls. */
export const heavyCallSlots = new HostSlots(2);
