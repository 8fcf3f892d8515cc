/** Series with gaps (pure: unit-tested). */

/**
 * Indices of values with no value on either side: a line chart has nothing to draw for them, so a
 * reading alone between gaps (or the first reading of a new series) would not show at all.
 */
export function isolatedIndices(values: ArrayLike<number | null | undefined>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const at = (j: number) => (j >= 0 && j < values.length ? values[j] : null);
    if (at(i) != null && at(i - 1) == null && at(i + 1) == null) out.push(i);
  }
  return out;
}
