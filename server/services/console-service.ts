/**
 * Console use-case: a signed-in user asks for a console of a VM they may use; we check policy and
 * state, mint a single-use ticket and return where and how to connect. The ticket itself is never
 * logged or audited (only its row id); the proxy re-checks everything when it is redeemed.
 */
import { config } from "../config.ts";
import { AppError } from "../domain/errors.ts";
import { authorize, vmScope } from "../domain/policy.ts";
import { mintTicket, ticketProtocols, type ConsoleKind, type ConsoleMode } from "../console/tickets.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";
import { vmAccessSelect, vmTarget } from "./vm-access.ts";

export interface TOpenConsoleInput {
  id: string;
  mode: ConsoleMode;
  kind: ConsoleKind;
}

export const CONSOLE_PATHS: Record<ConsoleKind, string> = { vnc: "/ws/console", serial: "/ws/serial" };

/** ws:// or wss:// on the portal's own origin (NEXTAUTH_URL, else the request's). */
export function consoleUrl(portalOrigin: string, kind: ConsoleKind): string {
  const u = new URL(portalOrigin);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = CONSOLE_PATHS[kind];
  u.search = "";
  u.hash = "";
  return u.toString();
}

export async function openConsole(ctx: ServiceContext, input: TOpenConsoleInput, opts: { portalOrigin: string; now?: Date }) {
  const vm = await ctx.db.vm.findFirst({ where: { id: input.id, deletedAt: null, ...vmScope(ctx.actor) }, select: { id: true, state: true, ...vmAccessSelect } });
  if (!vm) throw new AppError("NOT_FOUND", "VM not found");
  const detail = { mode: input.mode, kind: input.kind };
  try {
    authorize(ctx.actor, "vm.console", vmTarget(vm));
    if (vm.state !== "running") throw new AppError("WRONG_STATE", `the console needs a running VM (this one is ${vm.state})`, { state: vm.state });
    const minted = await mintTicket(ctx.db, { userId: ctx.actor.id, vmId: vm.id, mode: input.mode, kind: input.kind, now: opts.now ?? new Date(), ttlS: config().VMDESK_CONSOLE_TICKET_TTL_S });
    await auditAs(ctx, { action: "console.open", targetType: "vm", targetId: vm.id, result: "ok", detail: { ...detail, ticketId: minted.id, expiresAt: minted.expiresAt.toISOString() } });
    return { url: consoleUrl(opts.portalOrigin, input.kind), protocols: ticketProtocols(minted.ticket), expiresAt: minted.expiresAt, mode: input.mode, kind: input.kind };
  } catch (err) {
    if (err instanceof AppError) await auditAs(ctx, { action: "console.open", targetType: "vm", targetId: vm.id, result: "denied", detail: { ...detail, reason: err.message } });
    throw err;
  }
}
