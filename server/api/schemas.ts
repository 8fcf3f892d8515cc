/** zod schemas at the API edge: inputs are validated here, outputs define the REST API's documented shapes. */
import { z } from "zod";

const name = z.string().trim().min(1, "must not be empty").max(100, "at most 100 characters");

export const ZId = z.object({ id: z.string().uuid("must be a UUID") });

export const ZCreateVmInput = z.object({
  name,
  imageId: z.string().uuid("must be a UUID"),
  vcpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(80, "guests need at least 80 MiB").max(1_048_576),
  diskGiB: z.number().int().min(1).max(65_536),
});
export type TCreateVmInput = z.infer<typeof ZCreateVmInput>;

export const ZShutdownInput = ZId.extend({
  force: z.boolean().optional().describe("power off after the timeout if the guest has not shut down"),
  timeoutS: z.number().int().min(1).max(3600).optional(),
});

export const ZQuotaLimits = z.object({
  vms: z.number().int().min(0).max(10_000),
  vcpus: z.number().int().min(0).max(100_000),
  memoryMiB: z.number().int().min(0).max(1_000_000_000),
  diskGiB: z.number().int().min(0).max(1_000_000_000),
});

export const ZRole = z.enum(["admin", "teacher", "tenant"]);
export const ZUsername = z
  .string()
  .trim()
  .min(2)
  .max(64)
  .regex(/^[a-zA-Z0-9._-]+$/, "letters, digits, dot, dash and underscore only");
export const ZPassword = z.string().min(8, "at least 8 characters").max(200);

export const ZCreateUserInput = z.object({ username: ZUsername, password: ZPassword.optional(), role: ZRole.default("tenant"), displayName: z.string().max(100).optional() });
export const ZUpdateUserInput = ZId.extend({ role: ZRole.optional(), disabled: z.boolean().optional(), password: ZPassword.optional(), displayName: z.string().max(100).optional() });
export const ZSetQuotaInput = ZId.extend(ZQuotaLimits.shape);

export const ZTokenRequest = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(200), name: z.string().max(100).optional(), ttlDays: z.number().int().min(1).max(365).optional() });

export const ZRegisterImageInput = z.object({
  name,
  description: z.string().max(1000).optional(),
  path: z.string().min(1).max(4096),
  format: z.enum(["qcow2", "raw", "iso"]),
  minDiskGiB: z.number().int().min(1).max(65_536).default(1),
  hostId: z.string().uuid(),
});

const ZHostFields = z.object({
  name,
  uri: z.string().min(1).max(1000).regex(/^[a-z0-9+]+:\/\//, "must be a libvirt URI such as qemu:///system or qemu+ssh://host/system"),
  domainType: z.enum(["kvm", "qemu"]).describe("kvm on real hardware; qemu (TCG) where KVM is unusable"),
  cpuMode: z.enum(["host-passthrough", "host-model", "none"]),
  poolPath: z.string().min(1).max(4096).regex(/^\//, "must be an absolute path"),
  enabled: z.boolean().optional(),
});
export const ZCreateHostInput = ZHostFields;
export const ZUpdateHostInput = ZId.extend(ZHostFields.partial().shape);

// ---- outputs ----
const ZAmounts = z.object({ vms: z.number(), vcpus: z.number(), memoryMiB: z.number(), diskGiB: z.number() });
export const ZQuotaView = z.object({ limits: ZAmounts, used: ZAmounts });

export const ZOperation = z.object({
  id: z.string(),
  kind: z.string(),
  status: z.enum(["queued", "running", "succeeded", "failed"]),
  vmId: z.string().nullable(),
  step: z.string().nullable(),
  progress: z.number(),
  error: z.string().nullable(),
  attempts: z.number(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
});

export const ZVmState = z.enum(["provisioning", "running", "paused", "stopped", "error", "deleting", "missing", "deleted"]);

export const ZVm = z.object({
  id: z.string(),
  name: z.string(),
  ownerId: z.string(),
  owner: z.object({ id: z.string(), username: z.string() }),
  state: ZVmState,
  observedState: z.string().nullable().describe("libvirt's own state as last observed"),
  observedAt: z.date().nullable(),
  stateMessage: z.string().nullable(),
  guestReadyAt: z.date().nullable().describe("when the guest itself first printed on its serial console"),
  vcpus: z.number(),
  memoryMiB: z.number(),
  diskGiB: z.number(),
  domainName: z.string(),
  createdAt: z.date(),
  updatedAt: z.date(),
  host: z.object({ id: z.string(), name: z.string(), domainType: z.string() }),
  image: z.object({ id: z.string(), name: z.string(), format: z.string() }).nullable(),
  activeOperationId: z.string().nullable(),
  class: z.object({ id: z.string(), name: z.string(), frozen: z.boolean(), expiryWarning: z.string().nullable() }).nullable().describe("set for a student's class VM"),
});
export const ZVmDetail = ZVm.extend({ activeOperation: ZOperation.nullable() });
export const ZVmWithOperation = z.object({ vm: ZVmDetail, operation: ZOperation });

export const ZUser = z.object({ id: z.string(), username: z.string(), displayName: z.string(), role: ZRole, disabled: z.boolean(), createdAt: z.date() });
export const ZUserWithQuota = ZUser.extend({ quota: ZQuotaView });
export const ZCreatedUser = ZUser.extend({ temporaryPassword: z.string().optional() });

export const ZImage = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  path: z.string().nullable(),
  format: z.string(),
  minDiskGiB: z.number(),
  createdAt: z.date(),
  host: z.object({ id: z.string(), name: z.string() }),
});

export const ZHost = z.object({
  id: z.string(),
  name: z.string(),
  uri: z.string(),
  domainType: z.string(),
  cpuMode: z.string(),
  poolName: z.string(),
  poolPath: z.string(),
  enabled: z.boolean(),
  state: z.enum(["unknown", "connected", "disconnected"]),
  lastSeenAt: z.date().nullable(),
  lastError: z.string().nullable(),
  hostname: z.string().nullable(),
  cpus: z.number().nullable(),
  memoryMiB: z.number().nullable(),
  freeMemoryMiB: z.number().nullable(),
  diskFreeGiB: z.number().nullable(),
  libvirtVersion: z.string().nullable(),
});
export const ZHostWithCount = ZHost.extend({ vmCount: z.number() });

export const ZToken = z.object({ id: z.string(), name: z.string(), createdAt: z.date(), expiresAt: z.date(), lastUsedAt: z.date().nullable().optional() });
export const ZCreatedToken = ZToken.extend({ token: z.string().describe("shown once; send as Authorization: Bearer <token>") });

export const ZAuditEvent = z.object({
  id: z.string(),
  at: z.date(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  result: z.string(),
  detail: z.unknown(),
  ip: z.string().nullable(),
});
