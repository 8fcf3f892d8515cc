import { alertRouter } from "./routers/alert.ts";
import { auditRouter } from "./routers/audit.ts";
import { authRouter } from "./routers/auth.ts";
import { classRouter } from "./routers/class.ts";
import { consoleRouter } from "./routers/console.ts";
import { flavorRouter } from "./routers/flavor.ts";
import { hostRouter } from "./routers/host.ts";
import { imageRouter } from "./routers/image.ts";
import { leaseRouter } from "./routers/lease.ts";
import { liveRouter } from "./routers/live.ts";
import { operationRouter } from "./routers/operation.ts";
import { snapshotRouter } from "./routers/snapshot.ts";
import { sshKeyRouter } from "./routers/ssh-key.ts";
import { submissionRouter } from "./routers/submission.ts";
import { userRouter } from "./routers/user.ts";
import { vmRouter } from "./routers/vm.ts";
import { createCallerFactory, router } from "./trpc.ts";

export const appRouter = router({
  auth: authRouter,
  vm: vmRouter,
  flavor: flavorRouter,
  operation: operationRouter,
  user: userRouter,
  image: imageRouter,
  host: hostRouter,
  audit: auditRouter,
  alert: alertRouter,
  live: liveRouter,
  class: classRouter,
  console: consoleRouter,
  lease: leaseRouter,
  sshKey: sshKeyRouter,
  snapshot: snapshotRouter,
  submission: submissionRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);

/** REST success statuses declared on procedures (`successStatus` meta), by procedure path. */
export const restSuccessStatus: Map<string, number> = new Map(
  Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { meta?: { successStatus?: number } } }>)
    .filter(([, p]) => p._def.meta?.successStatus)
    .map(([path, p]) => [path, p._def.meta!.successStatus!]),
);
