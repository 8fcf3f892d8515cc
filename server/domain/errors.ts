/**
 * Domain errors. Every failure a user can cause is an AppError with a precise code; the API layer maps
 * codes to HTTP/tRPC statuses in one place (server/api/trpc.ts). Anything else is a bug or an outage
 * and is reported as a generic internal error.
 */
export type AppErrorCode =
  | "BAD_REQUEST" // 400: input that validation could not catch
  | "UNAUTHORIZED" // 401: no valid session or token
  | "FORBIDDEN" // 403: visible to you, but you may not do this
  | "PASSWORD_CHANGE_REQUIRED" // 403: a temporary password must be changed before anything else
  | "NOT_FOUND" // 404: no such object, or not yours
  | "CONFLICT" // 409: another operation is active, name taken, ...
  | "QUOTA_EXCEEDED" // 409: a quota limit would be exceeded
  | "PAYLOAD_TOO_LARGE" // 413: a request body above its limit
  | "WRONG_STATE" // 412: the object is not in a state that allows this
  | "RATE_LIMITED" // 429
  | "UNAVAILABLE"; // 503: a host or dependency cannot be reached

export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: AppErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }
}

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);
