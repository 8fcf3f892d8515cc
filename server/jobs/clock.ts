/** Injected time, so reaper, reconciler and expiry logic can be tested deterministically. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
