/**
 * Live state over SSE (tRPC subscriptions). A database notification only says "look again": each
 * subscription re-reads its own scoped rows, so nothing leaks across users and nothing is lost if a
 * notification is (the re-read also happens on a timer and after the listener reconnects).
 */
import { tracked } from "@trpc/server";
import { z } from "zod";
import { onVmChange, type VmChange } from "../../db/notify.ts";
import { loadActiveUser } from "../../services/auth-service.ts";
import type { ServiceContext } from "../../services/context.ts";
import { listVmOperations } from "../../services/operation-service.ts";
import { getVm, listVms } from "../../services/vm-service.ts";
import { protectedProcedure, router } from "../trpc.ts";

const RESYNC_MS = 15_000;
const COALESCE_MS = 100;

async function* watch<T>(svc: ServiceContext, relevant: (c: VmChange) => boolean, read: () => Promise<T>, signal: AbortSignal | undefined) {
  let pending = true;
  let wake: (() => void) | null = null;
  const off = onVmChange((c) => {
    if (c && !relevant(c)) return;
    pending = true;
    wake?.();
  });
  let version = 0;
  try {
    while (!signal?.aborted) {
      if (!pending) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, RESYNC_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          signal?.addEventListener("abort", wake, { once: true });
        });
        wake = null;
        await new Promise((r) => setTimeout(r, COALESCE_MS));
      }
      pending = false;
      // A user disabled mid-stream loses the stream.
      if (!(await loadActiveUser(svc.db, svc.actor.id))) return;
      yield tracked(String(++version), await read());
    }
  } finally {
    off();
  }
}

export const liveRouter = router({
  vms: protectedProcedure.input(z.object({ all: z.boolean().optional() }).optional()).subscription(async function* ({ ctx, input, signal }) {
    const all = Boolean(input?.all) && ctx.user.role === "admin";
    yield* watch(ctx.svc, (c) => all || c.ownerId === ctx.user.id, () => listVms(ctx.svc, { all }), signal);
  }),
  vm: protectedProcedure.input(z.object({ id: z.string().uuid() })).subscription(async function* ({ ctx, input, signal }) {
    yield* watch(
      ctx.svc,
      (c) => c.vmId === input.id,
      async () => ({ vm: await getVm(ctx.svc, input.id).catch(() => null), operations: await listVmOperations(ctx.svc, input.id).catch(() => []) }),
      signal,
    );
  }),
});
