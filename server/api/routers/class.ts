import { z } from "zod";
import { classAction, createCheckpoint, freezeClass, revertCheckpoint, unfreezeClass } from "../../services/class-bulk.ts";
import { previewClass, provision } from "../../services/class-provisioning.ts";
import { addStudents, addTeachers, joinClass, removeStudent } from "../../services/class-roster-service.ts";
import { addSession, createClass, deleteSession, endClass, getClass, listClasses, updateClass } from "../../services/class-service.ts";
import { ROSTER_MAX_CHARS, ROSTER_MAX_STUDENTS } from "../../domain/classroom.ts";
import { getOwnTeachingQuota } from "../../services/teaching-quota.ts";
import { ZDateInput, ZName, ZQuotaLimits, ZQuotaView } from "../schemas.ts";
import { protectedProcedure, rest, router } from "../trpc.ts";

const tags = ["classes"];
const ZClassId = z.object({ id: z.string().uuid("must be a UUID") });
const ZUserIds = z.array(z.string().uuid()).max(1000).optional().describe("a selection of students; all when absent");
const name = ZName;

const ZClassFields = z.object({
  name,
  vcpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(80, "guests need at least 80 MiB").max(1_048_576),
  diskGiB: z.number().int().min(1).max(65_536),
  budget: ZQuotaLimits,
  termStart: ZDateInput.optional(),
  termEnd: ZDateInput.optional(),
  isolatedNetwork: z.boolean().optional(),
  studentsMayPower: z.boolean().optional(),
  studentsMayReset: z.boolean().optional(),
  studentsMayRevert: z.boolean().optional(),
  preStartMinutes: z.number().int().min(0).max(24 * 60).optional(),
  expiresAt: ZDateInput.optional(),
  freezeAt: ZDateInput.optional(),
});

const ZAmounts = z.object({ vms: z.number(), vcpus: z.number(), memoryMiB: z.number(), diskGiB: z.number() });
const ZBudget = z.object({ limits: ZAmounts, used: ZAmounts });
const ZClassSummary = z.object({
  id: z.string(),
  name: z.string(),
  ownerId: z.string(),
  termStart: z.date().nullable(),
  termEnd: z.date().nullable(),
  vcpus: z.number(),
  memoryMiB: z.number(),
  diskGiB: z.number(),
  isolatedNetwork: z.boolean(),
  studentsMayPower: z.boolean(),
  studentsMayReset: z.boolean(),
  studentsMayRevert: z.boolean(),
  joinCode: z.string().nullable(),
  preStartMinutes: z.number(),
  freezeAt: z.date().nullable(),
  frozenAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
  expiryWarnDays: z.number(),
  expiredAt: z.date().nullable(),
  createdAt: z.date(),
  image: z.object({ id: z.string(), name: z.string(), hostId: z.string() }),
  teachers: z.array(z.object({ id: z.string(), username: z.string() })),
  budget: ZBudget,
});
const ZOpBrief = z.object({ id: z.string(), kind: z.string(), status: z.string(), step: z.string().nullable(), progress: z.number() });
const ZClassDetail = ZClassSummary.extend({
  expiryWarning: z.string().nullable(),
  students: z.array(
    z.object({
      userId: z.string(),
      username: z.string(),
      displayName: z.string(),
      vmId: z.string().nullable(),
      state: z.string().nullable(),
      stateMessage: z.string().nullable(),
      guestReady: z.boolean(),
      operation: ZOpBrief.nullable(),
      lastFailure: z.object({ vmId: z.string().nullable(), kind: z.string(), error: z.string().nullable(), finishedAt: z.date().nullable() }).nullable(),
    }),
  ),
  checkpoints: z.array(z.object({ id: z.string(), name: z.string(), kind: z.string(), createdAt: z.date() })),
  sessions: z.array(z.object({ id: z.string(), startsAt: z.date(), endsAt: z.date(), startedAt: z.date().nullable(), endedAt: z.date().nullable() })),
});
const ZBulkResult = z.object({
  queued: z.array(z.object({ username: z.string(), operationId: z.string() })),
  skipped: z.array(z.object({ username: z.string(), reason: z.string() })),
});
const ZPreview = z.object({
  fits: z.boolean(),
  vms: z.number(),
  students: z.array(z.string()),
  cost: ZAmounts,
  budget: ZBudget.extend({ after: ZAmounts }),
  placements: z.array(z.object({ student: z.string(), host: z.string().nullable() })).describe("where each student's VM would go (null: no host can take it)"),
  hosts: z.array(z.object({ name: z.string(), vms: z.number(), vcpus: z.number(), memoryMiB: z.number(), diskGiB: z.number() })).describe("what this run adds to each host"),
  refusals: z.array(z.object({ host: z.string(), reason: z.string() })).describe("each host that refused a VM, and why"),
  reasons: z.array(z.string()),
});

function bulk(action: "start" | "stop" | "reset" | "delete", path: string) {
  return protectedProcedure
    .meta({ ...rest("POST", `/classes/{id}/${path}`, `${action} every student VM (or a selection)`, { tags }), successStatus: 202 })
    .input(ZClassId.extend({ userIds: ZUserIds }))
    .output(ZBulkResult)
    .mutation(({ ctx, input }) => classAction(ctx.svc, input.id, action, { userIds: input.userIds }));
}

export const classRouter = router({
  create: protectedProcedure
    .meta({ ...rest("POST", "/classes", "create a class (teachers, admins); its budget is taken from your teaching quota (409 when it does not fit)", { tags }), successStatus: 201 })
    .input(ZClassFields.extend({ imageId: z.string().uuid() }))
    .output(z.object({ id: z.string() }))
    .mutation(({ ctx, input }) => createClass(ctx.svc, input)),
  list: protectedProcedure
    .meta(rest("GET", "/classes", "classes you teach (admins: all)", { tags }))
    .input(z.object({}).optional())
    .output(z.array(ZClassSummary.extend({ studentCount: z.number() })))
    .query(({ ctx }) => listClasses(ctx.svc)),
  teachingQuota: protectedProcedure
    .meta(rest("GET", "/me/teaching-quota", "your teaching quota (granted by an admin) and what your classes' budgets take of it", { tags }))
    .input(z.object({}).optional())
    .output(ZQuotaView)
    .query(({ ctx }) => getOwnTeachingQuota(ctx.svc)),
  get: protectedProcedure
    .meta(rest("GET", "/classes/{id}", "a class with its students and their VMs", { tags }))
    .input(ZClassId)
    .output(ZClassDetail)
    .query(({ ctx, input }) => getClass(ctx.svc, input.id)),
  update: protectedProcedure
    .meta(rest("PATCH", "/classes/{id}", "change a class's settings, budget (within the owner's teaching quota), schedule", { tags }))
    .input(ZClassId.extend(ZClassFields.partial().shape))
    .output(ZClassDetail)
    .mutation(({ ctx, input }) => {
      const { id, ...rest } = input;
      return updateClass(ctx.svc, id, rest);
    }),
  end: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/end", "end the class now, as its expiry would: its VMs are deleted and its budget returns to the owner's teaching quota", { tags }), successStatus: 202 })
    .input(ZClassId)
    .output(z.object({ id: z.string(), queued: z.number(), skipped: z.array(z.object({ username: z.string(), reason: z.string() })) }))
    .mutation(({ ctx, input }) => endClass(ctx.svc, input.id)),
  addTeachers: protectedProcedure
    .meta(rest("POST", "/classes/{id}/teachers", "add co-teachers by username", { tags }))
    .input(ZClassId.extend({ usernames: z.array(z.string().min(1).max(64)).min(1).max(100) }))
    .output(z.object({ added: z.array(z.string()) }))
    .mutation(({ ctx, input }) => addTeachers(ctx.svc, input.id, input.usernames)),
  addStudents: protectedProcedure
    .meta(rest("POST", "/classes/{id}/students", "add students: existing usernames and/or a pasted roster (username,name,email) that creates accounts", { tags }))
    .input(
      ZClassId.extend({
        usernames: z.array(z.string().min(1).max(64)).max(ROSTER_MAX_STUDENTS, `at most ${ROSTER_MAX_STUDENTS} students per request`).optional(),
        csv: z.string().max(ROSTER_MAX_CHARS, `a roster of at most ${ROSTER_MAX_CHARS} characters (${ROSTER_MAX_STUDENTS} students) per request`).optional(),
      }),
    )
    .output(
      z.object({
        added: z.array(z.string()),
        created: z.array(z.object({ username: z.string(), displayName: z.string(), email: z.string(), temporaryPassword: z.string() })),
        provisioning: z.unknown(),
      }),
    )
    .mutation(({ ctx, input }) => addStudents(ctx.svc, input.id, { usernames: input.usernames, csv: input.csv })),
  removeStudent: protectedProcedure
    .meta(rest("DELETE", "/classes/{id}/students/{userId}", "remove a student (their VM is deleted)", { tags }))
    .input(ZClassId.extend({ userId: z.string().uuid() }))
    .output(z.object({ removed: z.string() }))
    .mutation(({ ctx, input }) => removeStudent(ctx.svc, input.id, input.userId)),
  join: protectedProcedure
    .meta(rest("POST", "/classes/join", "join a class with its join code (students)", { tags }))
    .input(z.object({ code: z.string().trim().min(4).max(32) }))
    .output(z.object({ classId: z.string(), name: z.string() }))
    .mutation(({ ctx, input }) => joinClass(ctx.svc, input.code)),
  preview: protectedProcedure
    .meta(rest("POST", "/classes/{id}/preview", "dry run of provisioning: VMs, budget impact, the host of each student's VM, reasons", { tags }))
    .input(ZClassId.extend({ userIds: ZUserIds }))
    .output(ZPreview)
    .mutation(({ ctx, input }) => previewClass(ctx.svc, input.id, { userIds: input.userIds })),
  provision: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/provision", "create a VM for every student without one (409 with reasons, creating nothing, when it does not fit)", { tags }), successStatus: 202 })
    .input(ZClassId.extend({ userIds: ZUserIds }))
    .output(z.object({ vms: z.number(), operations: z.array(z.string()) }))
    .mutation(({ ctx, input }) => provision(ctx.svc, input.id, { userIds: input.userIds })),
  startAll: bulk("start", "start-all"),
  stopAll: bulk("stop", "stop-all"),
  resetAll: bulk("reset", "reset-all"),
  deleteAll: bulk("delete", "delete-all"),
  freeze: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/freeze", "exam freeze: lock students out, shut every VM down, take a submission snapshot", { tags }), successStatus: 202 })
    .input(ZClassId)
    .output(ZBulkResult)
    .mutation(({ ctx, input }) => freezeClass(ctx.svc, input.id)),
  unfreeze: protectedProcedure
    .meta(rest("POST", "/classes/{id}/unfreeze", "give students their actions back", { tags }))
    .input(ZClassId)
    .output(z.object({ id: z.string(), frozen: z.boolean() }))
    .mutation(({ ctx, input }) => unfreezeClass(ctx.svc, input.id)),
  createCheckpoint: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/checkpoints", "snapshot every student VM under a name", { tags }), successStatus: 202 })
    .input(ZClassId.extend({ name }))
    .output(ZBulkResult.extend({ id: z.string(), name: z.string(), kind: z.string(), createdAt: z.date() }))
    .mutation(({ ctx, input }) => createCheckpoint(ctx.svc, input.id, input.name)),
  revertCheckpoint: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/checkpoints/{checkpointId}/revert", "revert every (or selected) student VM to a checkpoint", { tags }), successStatus: 202 })
    .input(ZClassId.extend({ checkpointId: z.string().uuid(), userIds: ZUserIds }))
    .output(ZBulkResult)
    .mutation(({ ctx, input }) => revertCheckpoint(ctx.svc, input.id, input.checkpointId, { userIds: input.userIds })),
  addSession: protectedProcedure
    .meta({ ...rest("POST", "/classes/{id}/sessions", "schedule a class session (VMs start before it, stop at its end)", { tags }), successStatus: 201 })
    .input(ZClassId.extend({ startsAt: ZDateInput, endsAt: ZDateInput }))
    .output(z.object({ id: z.string(), startsAt: z.date(), endsAt: z.date(), startedAt: z.date().nullable(), endedAt: z.date().nullable() }))
    .mutation(({ ctx, input }) => addSession(ctx.svc, input.id, { startsAt: input.startsAt, endsAt: input.endsAt })),
  deleteSession: protectedProcedure
    .meta(rest("DELETE", "/classes/{id}/sessions/{sessionId}", "remove a scheduled session", { tags }))
    .input(ZClassId.extend({ sessionId: z.string().uuid() }))
    .output(z.object({ id: z.string(), deleted: z.boolean() }))
    .mutation(({ ctx, input }) => deleteSession(ctx.svc, input.id, input.sessionId)),
});
