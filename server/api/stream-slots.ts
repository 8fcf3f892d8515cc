/**
 * Per-user caps on long-lived streams in this process (serial-log follow, live subscriptions): each
 * open stream runs a poll or re-check loop, so one user opening thousands would make the process work
 * for them alone. Counted per process: N portal instances admit N × the cap, which still bounds each.
 */
import { AppError } from "../domain/errors.ts";

export class PerUserStreams {
  private readonly open = new Map<string, number>();

  /** `what` names the streams in the refusal; `max` is read at each take (configuration). */
  constructor(
    private readonly what: string,
    private readonly max: () => number,
  ) {}

  /** A slot for `userId`, or RATE_LIMITED (429) naming the cap. The returned release is idempotent. */
  take(userId: string): () => void {
    const held = this.open.get(userId) ?? 0;
    const max = this.max();
    if (held >= max) throw new AppError("RATE_LIMITED", `at most ${max} ${this.what} may be open at once; close one first`);
    this.open.set(userId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(userId) ?? 1) - 1;
      if (left > 0) this.open.set(userId, left);
      else this.open.delete(userId);
    };
  }
}
