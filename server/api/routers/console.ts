import { z } from "zod";
import { openConsole } from "../../services/console-service.ts";
import { ZId } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

export const ZOpenConsoleInput = ZId.extend({
  mode: z.enum(["control", "view"]).default("control"),
  kind: z.enum(["vnc", "serial"]).default("vnc"),
});

export const ZConsoleTicket = z.object({
  url: z.string().describe("ws:// or wss:// URL of the console proxy; carries no secret"),
  protocols: z.array(z.string()).describe("websocket subprotocols to offer: the ticket, then \"binary\" (the one the server selects)"),
  expiresAt: z.date(),
  mode: z.enum(["control", "view"]),
  kind: z.enum(["vnc", "serial"]),
});

export const consoleRouter = router({
  open: protectedProcedure
    .meta({ ...rest("POST", "/vms/{id}/console", "a single-use console ticket (≤ 60 s) for a running VM", { tags: ["vms"] }), successStatus: 201 })
    .input(ZOpenConsoleInput)
    .output(ZConsoleTicket)
    .mutation(({ ctx, input }) => openConsole(ctx.svc, input, { portalOrigin: ctx.portalOrigin })),
});
