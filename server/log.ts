import pino from "pino";

/** The root logger; use `log.child({ requestId | operationId | vmId | userId })` per unit of work. */
export const log = pino({
  level: process.env.VMDESK_LOG_LEVEL ?? "info",
  base: { service: "vmdesk" },
  redact: ["password", "token", "*.password", "*.token", "headers.authorization", "headers.cookie"],
});
