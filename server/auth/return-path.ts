/**
 * Where a user may be sent after signing in: only a path on this portal. The one rule for the sign-in
 * page's `callbackUrl` and next-auth's redirect callback. Pure (no I/O), so every variant is unit-tested.
 *
 * Browsers read `//host`, `/\host`, and paths with tabs or newlines removed (`/\t/host`) as another
 * origin, and a path that only becomes `//host` once dot segments are resolved (`/.//host`) or once
 * percent-decoded (`/%2F%2Fhost`) is one proxy or later hop away from the same thing. Anything that is
 * not plainly a local path therefore becomes `/`; we never try to repair it.
 */

const SENTINEL_ORIGIN = "http://return-path.invalid";
const MAX_LENGTH = 2048;
/** Enough to unwrap double and triple encoding; deeper nesting is refused rather than chased. */
const MAX_DECODE_LAYERS = 4;

/** Controls (which browsers strip or reinterpret) and backslashes (which they read as slashes). */
const UNSAFE_CHARACTER = /[\u0000-\u001f\u007f\\]/;

/** One layer: starts with exactly one slash, has nothing a browser rewrites, and stays local once resolved. */
function isLocalPath(candidate: string): boolean {
  if (!candidate.startsWith("/") || candidate.startsWith("//") || UNSAFE_CHARACTER.test(candidate)) return false;
  try {
    const url = new URL(candidate, SENTINEL_ORIGIN);
    return url.origin === SENTINEL_ORIGIN && !url.pathname.startsWith("//");
  } catch {
    return false;
  }
}

/** A path after sign-in lands on the sign-in page again: pointless, so it goes home instead. */
function isSignInPage(pathname: string): boolean {
  return pathname === "/signin" || pathname.startsWith("/signin/");
}

/**
 * Returns `raw` as a same-origin path with its query (`/vms/1?tab=console`), or `/` when it is missing,
 * absolute, scheme-bearing, protocol-relative, encoded to look local, or otherwise not plainly a path.
 * `sameOrigin`, when given (next-auth passes the portal's origin), also admits absolute URLs of exactly
 * that origin, reduced to their path.
 */
export function safeReturnPath(raw: unknown, options: { sameOrigin?: string } = {}): string {
  const value = Array.isArray(raw) ? (raw[0] as unknown) : raw;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_LENGTH) return "/";
  let candidate = value;
  if (options.sameOrigin && !value.startsWith("/")) {
    try {
      const absolute = new URL(value);
      if (absolute.origin !== new URL(options.sameOrigin).origin || UNSAFE_CHARACTER.test(value)) return "/";
      candidate = absolute.pathname + absolute.search;
    } catch {
      return "/";
    }
  }
  let layer = candidate;
  for (let depth = 0; ; depth++) {
    if (!isLocalPath(layer)) return "/";
    let decoded: string;
    try {
      decoded = decodeURIComponent(layer);
    } catch {
      return "/";
    }
    if (decoded === layer) break;
    if (depth + 1 >= MAX_DECODE_LAYERS) return "/";
    layer = decoded;
  }
  const url = new URL(candidate, SENTINEL_ORIGIN);
  const path = url.pathname + url.search;
  if (!isLocalPath(path) || isSignInPage(url.pathname)) return "/";
  return path;
}
