/**
 * Live state over SSE (tRPC subscriptions). A database notification only says "look again": each
 * subscription re-reads its own scoped rows, so nothing leaks across users and nothing is lost if a
 * notification is (the re-read also happens on a timer and after the listener reconnects).
 */
import { tracked, TRPCError } from "@trpc/server";
import { z } from "zod";
import { config } from "../../config.ts";
import { onVmChange, type VmChange } from "../../db/notify.ts";
import { AppError } from "../../domain/errors.ts";
import { loadActiveUser } from "../../services/auth-service.ts";
import type { ServiceContext } from "../../services/context.ts";
import { listVmOperations } from "../../services/operation-service.ts";
import { getVm, listVms } from "../../services/vm-service.ts";
import { PerUserStreams } from "../stream-slots.ts";
import { appErrorHttp, protectedProcedure, router } from "../trpc.ts";

const RESYNC_MS = 15_000;
/** How often a quiet stream checks that its credentials still stand (one indexed lookup). */
const REAUTH_MS = 3_000;
const COALESCE_MS = 100;

/** Every open stream re-checks its credentials every REAUTH_MS: a user opening thousands is bounded. */
const liveStreams = new PerUserStreams("live views (open pages)", () => config().VMDESK_LIVE_STREAMS_MAX_PER_USER);

/**
 * A live-stream slot, refused as TOO_MANY_REQUESTS (429): thrown inside the subscription's generator,
 * past the middleware that maps domain errors, so it is mapped here.
 */
function takeLiveSlot(userId: string): () => void {
  try {
    return liveStreams.take(userId);
  } catch (err) {
    if (err instanceof AppError) throw new TRPCError({ code: appErrorHttp(err.code).code, message: err.message, cause: err });
    throw err;
  }
}

/**
 * Streams `read()` whenever a relevant change is announced (and every RESYNC_MS), for as long as the
 * credentials that opened the stream stand: a password reset, disable, role change, token revocation
 * or the session's absolute lifetime ends it within REAUTH_MS, and nothing is read after that.
 * Each stream holds one of its user's live slots while it is open.
 */
async function* watch<T>(userId: string, stillAuthenticated: () => Promise<boolean>, relevant: (c: VmChange) => boolean, read: () => Promise<T>, signal: AbortSignal | undefined) {
  const release = takeLiveSlot(userId);
  let pending = true;
  let wake: (() => void) | null = null;
  const off = onVmChange((c) => {
    if (c && !relevant(c)) return;
    pending = true;
    wake?.();
  });
  let version = 0;
  let readAt = 0;
  try {
    while (!signal?.aborted) {
      if (!pending) {
        await new Promise<void>((resolve) => {
          // Removed again each round: a stream open for hours must not pile listeners onto its signal.
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, REAUTH_MS);
          wake = done;
          signal?.addEventListener("abort", done, { once: true });
        });
        wake = null;
        if (pending) await new Promise((r) => setTimeout(r, COALESCE_MS));
      }
      if (!(await stillAuthenticated())) return;
      if (!pending && Date.now() - readAt < RESYNC_MS) continue;
      pending = false;
      readAt = Date.now();
      yield tracked(String(++version), await read());
    }
  } finally {
    off();
    release();
  }
}

/** The request's own re-check; in-process callers (no request) fall back to "user still active". */
function credentialsCheck(ctx: { svc: ServiceContext; stillAuthenticated?: () => Promise<boolean> }): () => Promise<boolean> {
  return ctx.stillAuthenticated ?? (async () => (await loadActiveUser(ctx.svc.db, ctx.svc.actor.id)) !== null);
}

export const liveRouter = router({
  vms: protectedProcedure.input(z.object({ all: z.boolean().optional() }).optional()).subscription(async function* ({ ctx, input, signal }) {
    const all = Boolean(input?.all) && ctx.user.role === "admin";
    yield* watch(ctx.user.id, credentialsCheck(ctx), (c) => all || c.ownerId === ctx.user.id, () => listVms(ctx.svc, { all }), signal);
  }),
  vm: protectedProcedure.input(z.object({ id: z.string().uuid() })).subscription(async function* ({ ctx, input, signal }) {
    yield* watch(
      ctx.user.id,
      credentialsCheck(ctx),
      (c) => c.vmId === input.id,
      async () => ({ vm: await getVm(ctx.svc, input.id).catch(() => null), operations: await listVmOperations(ctx.svc, input.id).catch(() => []) }),
      signal,
    );
  }),
});
