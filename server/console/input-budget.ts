/**
 * How many bytes a console client may send, as a token bucket: `burst` at once, then `bytesPerS`.
 * The proxy counts every byte read from the client's socket (frames it will refuse, pings and junk
 * included) and stops reading when the bucket is empty, so a flooding client is slowed by TCP to its
 * budget instead of taking a core from the portal. Honest clients never reach it: keys and pointer
 * moves are a few bytes, a view-only client sends only update requests, and a control client's
 * largest message (a clipboard of CUT_TEXT_MAX) fits in its burst. Pure, with an injected clock.
 */
import type { ConsoleKind, ConsoleMode } from "./tickets.ts";

export interface BudgetRate {
  bytesPerS: number;
  burst: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Per mode: a view-only session's input is dropped anyway, so it gets a trickle. */
export const INPUT_BUDGET: Record<ConsoleKind, Record<ConsoleMode, BudgetRate>> = {
  vnc: {
    control: { bytesPerS: 256 * KiB, burst: 2 * MiB },
    view: { bytesPerS: 16 * KiB, burst: 128 * KiB },
  },
  serial: {
    control: { bytesPerS: 256 * KiB, burst: 2 * MiB },
    view: { bytesPerS: 16 * KiB, burst: 128 * KiB },
  },
};

/**
 * A client that stays over its budget this long is closed (4009) rather than read forever at the
 * trickle: while its socket is not read, the bytes it already queued in the kernel hide its departure
 * (a flood of several MiB at 16 KiB/s would keep a dead session, and its slot, for minutes).
 */
export const FLOOD_CLOSE_MS = 10_000;

export class InputBudget {
  private tokens: number;
  private at: number;
  /** When the bucket last went into debt without refilling to half since; null when it has. */
  private debtSince: number | null = null;

  constructor(
    private readonly rate: BudgetRate,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = rate.burst;
    this.at = now();
  }

  /** Spends `bytes` already read; returns how long to stop reading (ms) until the bucket is no longer in debt. */
  spend(bytes: number): number {
    const t = this.now();
    this.tokens = Math.min(this.rate.burst, this.tokens + ((t - this.at) * this.rate.bytesPerS) / 1000);
    this.at = t;
    if (this.tokens >= this.rate.burst / 2) this.debtSince = null;
    this.tokens -= bytes;
    if (this.tokens >= 0) return 0;
    this.debtSince ??= t;
    return Math.ceil((-this.tokens * 1000) / this.rate.bytesPerS);
  }

  /** How long the client has been over its budget without pause (0 when it is not). */
  floodingMs(): number {
    return this.debtSince === null ? 0 : this.now() - this.debtSince;
  }
}
