/** zod schemas at the API edge: inputs are validated here, outputs define the REST API's documented shapes. */
import { z } from "zod";
import { SNAPSHOT_NAME, SNAPSHOT_NAME_RULE } from "../domain/snapshots.ts";
import { LEASE_MAX_DAYS } from "../domain/lease.ts";
import { SERIAL_TAIL_MAX_LINES } from "../domain/serial-log.ts";
import { checkUserData, HOSTNAME_LABEL, USER_DATA_MAX_BYTES } from "../domain/cloud-init.ts";
import { parseSshPublicKey, SSH_KEY_MAX_LINE, SSH_KEYS_PER_USER } from "../domain/ssh-key.ts";

/**
 * Control characters, line and paragraph separators and bidirectional overrides: they forge log
 * lines, break CSV exports and make one name look like another on screen.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Free text shown as a single line (names of VMs, classes, images, hosts, tokens; display names). */
export const ZLineText = (max: number) => z.string().max(max, `at most ${max} characters`).refine((v) => !UNPRINTABLE.test(v), "must not contain control characters or line breaks");
/** A name: one printable line, trimmed, 1–100 characters. */
export const ZName = ZLineText(100).trim().min(1, "must not be empty");
const name = ZName;

/**
 * Query-string values are text: a boolean is exactly `true` or `false`, anything else is refused (a
 * coercion would read "false" as true). tRPC callers may pass a real boolean.
 */
export const ZQueryBoolean = z
  .preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ error: 'must be "true" or "false"' }))
  .meta({ type: "boolean" });
/** A non-negative integer in a query string (digits only); tRPC callers may pass a number. */
export const ZQueryInt = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === "string" && /^[0-9]{1,9}$/.test(v) ? Number(v) : v), z.number({ error: "must be a whole number" }).int().min(min).max(max)).meta({ type: "integer", minimum: min, maximum: max });

/**
 * A date in a JSON body: an ISO 8601 string (REST) or a Date (tRPC, through superjson). Numbers,
 * booleans and other strings are refused instead of being coerced into some instant.
 */
export const ZDateInput = z
  .preprocess((v) => (typeof v === "string" && /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? new Date(v) : v), z.date({ error: "must be an ISO 8601 date or date-time" }))
  .meta({ type: "string", format: "date-time" });

export const ZId = z.object({ id: z.string().uuid("must be a UUID") });

export const ZAddSshKeyInput = z.object({
  name: ZLineText(100).trim().optional().describe("default: the key's comment, else its type"),
  publicKey: z
    .string()
    .max(SSH_KEY_MAX_LINE, `at most ${SSH_KEY_MAX_LINE} characters`)
    .superRefine((v, c) => {
      const parsed = parseSshPublicKey(v);
      if (!parsed.ok) c.addIssue({ code: "custom", message: parsed.reason });
    })
    .describe("one line of a .pub file: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (at least 2048 bits) with an optional comment"),
});
export const ZSshKey = z.object({
  id: z.string(),
  name: z.string(),
  type: z.string(),
  bits: z.number(),
  comment: z.string(),
  fingerprint: z.string().describe("SHA256:… as ssh-keygen -lf prints it"),
  publicKey: z.string().describe("the authorized_keys line"),
  createdAt: z.date(),
});

/** cloud-init inputs at create; the keys are resolved (and must be the caller's own) by the service. */
export const ZCloudInitInput = z.object({
  hostname: z
    .string()
    .regex(HOSTNAME_LABEL, "one label of letters, digits and inner hyphens, at most 63 characters")
    .optional()
    .describe("the guest's host name (RFC 1123 label); default: from the VM's name"),
  userData: z
    .string()
    .max(USER_DATA_MAX_BYTES, `at most ${USER_DATA_MAX_BYTES} bytes`)
    .superRefine((v, c) => {
      const checked = checkUserData(v);
      if (!checked.ok) c.addIssue({ code: "custom", message: checked.reason });
    })
    .optional()
    .describe("#cloud-config YAML (a mapping) or a script starting with #!; at most 64 KiB"),
  sshKeys: z
    .union([z.literal("all"), z.array(z.string().uuid("must be a UUID")).max(SSH_KEYS_PER_USER)])
    .optional()
    .describe('"all" of your SSH keys, or the ids of some (GET /me/ssh-keys); default: none'),
});

export const ZCreateVmInput = z.object({
  name,
  imageId: z.string().uuid("must be a UUID"),
  flavorId: z.string().uuid("must be a UUID").optional().describe("take size (and tuning) from this flavor (GET /flavors); then leave vcpus, memoryMiB and diskGiB out"),
  vcpus: z.number().int().min(1).max(64).optional().describe("required without a flavorId"),
  memoryMiB: z.number().int().min(80, "guests need at least 80 MiB").max(1_048_576).optional().describe("required without a flavorId"),
  diskGiB: z.number().int().min(1).max(65_536).optional().describe("required without a flavorId"),
  hostId: z.string().uuid("must be a UUID").optional().describe("admins only: put the VM on this host instead of where placement would (409 with the reason when it does not fit)"),
  cloudInit: ZCloudInitInput.optional().describe("attach a cloud-init (NoCloud) seed disc: host name, your SSH keys, user-data"),
  maxVcpus: z.number().int().min(1).max(64).optional().describe("vCPUs the running VM can grow to by hot-plug (default: vcpus)"),
  maxMemoryMiB: z.number().int().min(80).max(1_048_576).optional().describe("memory the running VM can grow to through the balloon (default: memoryMiB)"),
}).refine((v) => v.flavorId !== undefined || (v.vcpus !== undefined && v.memoryMiB !== undefined && v.diskGiB !== undefined), { message: "give a flavorId, or vcpus, memoryMiB and diskGiB", path: ["flavorId"] })
  .refine((v) => v.maxVcpus === undefined || v.vcpus === undefined || v.maxVcpus >= v.vcpus, { message: "maxVcpus must be at least vcpus", path: ["maxVcpus"] })
  .refine((v) => v.maxMemoryMiB === undefined || v.memoryMiB === undefined || v.maxMemoryMiB >= v.memoryMiB, { message: "maxMemoryMiB must be at least memoryMiB", path: ["maxMemoryMiB"] });
export type TCreateVmInput = z.infer<typeof ZCreateVmInput>;

/** Pages by keyset: the next page's cursor is the id of the last VM received; a shorter page is the last. */
export const ZListVmsInput = z.object({
  all: ZQueryBoolean.optional().describe("admins: everyone's VMs"),
  limit: ZQueryInt(1, 100).optional().describe("at most this many VMs (oldest first); without it, all of them"),
  cursor: z.string().uuid("must be a UUID").optional().describe("the id of the last VM of the previous page: this page starts after it"),
});

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

export const ZCreateUserInput = z.object({ username: ZUsername, password: ZPassword.optional(), role: ZRole.default("tenant"), displayName: ZLineText(100).optional() });
export const ZUpdateUserInput = ZId.extend({ role: ZRole.optional(), disabled: z.boolean().optional(), password: ZPassword.optional(), displayName: ZLineText(100).optional() });
export const ZSetQuotaInput = ZId.extend({ ...ZQuotaLimits.shape, snapshots: z.number().int().min(0).max(10_000).optional() });

export const ZTokenRequest = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(200), name: ZLineText(100).optional(), ttlDays: z.number().int().min(1).max(365).optional() });

export const ZRegisterImageInput = z.object({
  name,
  description: z.string().max(1000).optional(),
  path: z.string().min(1).max(4096).describe("absolute path inside the host's storage pool or an image directory (VMDESK_IMAGE_DIRS)"),
  format: z.enum(["qcow2", "raw", "iso"]),
  minDiskGiB: z.number().int().min(1).max(65_536).default(1),
  hostId: z.string().uuid(),
});

const ZHostFields = z.object({
  name,
  uri: z
    .string()
    .min(1)
    .max(1000)
    // Checked in full by host-service (domain/host-uri), after authorization, with the reason.
    .describe("transports qemu, qemu+tls, qemu+ssh, qemu+tcp (unauthenticated: trusted networks only), qemu+unix; no command/netcat/socket/no_verify parameters; keyfile, known_hosts and pkipath only inside the host-credentials directory (VMDESK_HOST_KEYFILE_DIR)"),
  domainType: z.enum(["kvm", "qemu"]).describe("kvm on real hardware; qemu (TCG) where KVM is unusable"),
  cpuMode: z.enum(["host-passthrough", "host-model", "none"]),
  poolPath: z.string().min(1).max(4096).regex(/^\//, "must be an absolute path"),
  poolShared: z
    .boolean()
    .optional()
    .describe("the pool's directory is shared storage (NFS, CephFS) mounted at poolPath on every host that declares the same path: VMs move between such hosts memory only (default false)"),
  enabled: z.boolean().optional(),
  cpuRatio: z.number().min(0.1).max(64).optional().describe("vCPUs placed per physical CPU (default 16)"),
  memoryRatio: z.number().min(0.1).max(4).optional().describe("guest memory placed per MiB of host memory after the reserve (default 1.0: no overcommit)"),
  reservedMemoryMiB: z.number().int().min(0).max(1_048_576).optional().describe("host memory never given to guests (default 512)"),
  reservedCpus: z.number().int().min(0).max(4096).optional().describe("pCPUs 0…n−1 stay with the host: never dedicated to VMs of flavors with dedicated CPUs (default 1)"),
  labels: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "label keys: lowercase letters, digits, . _ -, at most 63"), z.string().max(63).regex(/^[A-Za-z0-9._-]*$/, "label values: letters, digits, . _ -, at most 63"))
    .refine((l) => Object.keys(l).length <= 32, "at most 32 labels")
    .optional()
    .describe("key=value labels placement can require"),
  alertThresholds: z
    .object({
      cpu: z.object({ abovePct: z.number().min(1).max(100).optional(), windowS: z.number().int().min(1).max(86_400).optional() }).optional(),
      memory: z.object({ abovePct: z.number().min(1).max(100).optional(), windowS: z.number().int().min(1).max(86_400).optional() }).optional(),
      disk: z.object({ abovePct: z.number().min(1).max(100).optional(), windowS: z.number().int().min(1).max(86_400).optional() }).optional(),
    })
    .optional()
    .describe("this host's alert thresholds over the global ones (GET /alerts/thresholds)"),
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

export const ZVmState = z.enum(["provisioning", "running", "paused", "stopped", "error", "deleting", "missing", "unknown", "deleted"]);

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
  flavor: z.object({ id: z.string(), name: z.string() }).nullable().optional().describe("the flavor its size (and tuning) came from"),
  maxVcpus: z.number().nullable().optional().describe("vCPUs the running VM can grow to (null: vcpus)"),
  maxMemoryMiB: z.number().nullable().optional().describe("memory the running VM can grow to (null: memoryMiB)"),
  domainName: z.string(),
  createdAt: z.date(),
  updatedAt: z.date(),
  host: z.object({ id: z.string(), name: z.string(), domainType: z.string() }),
  image: z.object({ id: z.string(), name: z.string(), format: z.string() }).nullable(),
  activeOperationId: z.string().nullable(),
  ha: z.boolean().describe("restarted on another host sharing its storage when its host goes down"),
  haPriority: z.number().int().describe("HA restarts of one host's VMs run highest priority first"),
  haError: z.string().nullable().describe("why the last HA restart did not happen"),
  haFencingRequired: z.boolean().describe("the last HA restart was refused by the disk lease: the old host may still run the VM"),
  class: z.object({ id: z.string(), name: z.string(), frozen: z.boolean(), expiryWarning: z.string().nullable() }).nullable().describe("set for a student's class VM"),
  leaseExpiresAt: z.date().nullable().optional().describe("personal VMs with a lease: stopped at this time, deleted after the grace period"),
  leaseWarnedAt: z.date().nullable().optional().describe("when the owner was warned of this expiry (null: not yet, or extended since)"),
  leaseExtendedDays: z.number().int().optional().describe("days the owner has added to the lease so far"),
});
export const ZSetHaInput = ZId.extend({
  enabled: z.boolean(),
  priority: z.number().int().min(0).max(100).optional().describe("0–100, default: unchanged (0 for a new HA VM)"),
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
  sha256: z.string().nullable().describe("sha256 (hex) of the file, computed while it was uploaded or first copied"),
  sizeBytes: z.number().nullable(),
  ownerId: z.string().nullable().describe("the uploader of a private image; null for public images"),
  public: z.boolean(),
});

export const ZCreateUploadInput = z.object({
  name,
  description: ZLineText(1000).optional(),
  format: z.enum(["qcow2", "raw", "iso"]),
  totalBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe("the whole file's size in bytes"),
});

export const ZUpload = z.object({
  id: z.string(),
  name: z.string(),
  format: z.string(),
  totalBytes: z.number().nullable(),
  offset: z.number().describe("bytes received: the next PUT's Content-Range starts here"),
  state: z.string().describe("uploading | validating | done | failed"),
  error: z.string().nullable(),
  imageId: z.string().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

export const ZImagesQuota = z.object({ limitGiB: z.number(), usedBytes: z.number() });

export const ZHost = z.object({
  id: z.string(),
  name: z.string(),
  uri: z.string(),
  domainType: z.string(),
  cpuMode: z.string(),
  poolName: z.string(),
  poolPath: z.string(),
  poolShared: z.boolean(),
  enabled: z.boolean(),
  maintenance: z.boolean(),
  cpuRatio: z.number(),
  memoryRatio: z.number(),
  reservedMemoryMiB: z.number(),
  reservedCpus: z.number().optional().describe("pCPUs kept from dedicated-CPU flavors (0…n−1)"),
  labels: z.record(z.string(), z.string()),
  state: z.enum(["up", "degraded", "down", "maintenance", "disabled"]).describe("fleet state: disabled and maintenance are admin choices; down: not answering; degraded: answering but reporting a problem (lastError)"),
  connection: z.enum(["unknown", "connected", "disconnected"]).describe("the monitor's last view of the libvirt connection"),
  lastSeenAt: z.date().nullable(),
  lastError: z.string().nullable(),
  hostname: z.string().nullable(),
  cpus: z.number().nullable(),
  memoryMiB: z.number().nullable(),
  freeMemoryMiB: z.number().nullable(),
  diskFreeGiB: z.number().nullable(),
  alertThresholds: z.record(z.string(), z.unknown()).describe("this host's alert threshold overrides"),
  hugepages: z
    .array(z.object({ sizeKiB: z.number(), total: z.number(), free: z.number() }))
    .describe("huge pages per size (not the base page), summed over NUMA cells, as the monitor last read them; empty when none are configured"),
  libvirtVersion: z.string().nullable(),
});
export const ZHostWithCount = ZHost.extend({
  vmCount: z.number(),
  capacity: z.object({ vcpus: z.number().nullable(), memoryMiB: z.number().nullable() }).describe("what placement may allocate: CPUs × cpuRatio, (memory − reserve) × memoryRatio; null until measured"),
  allocated: z.object({ vms: z.number(), vcpus: z.number(), memoryMiB: z.number(), pendingDiskGiB: z.number() }).describe("what the host's live VMs hold (and those migrating to it)"),
  migratingAway: z.number().describe("VMs on this host being live-migrated elsewhere (a drain's progress)"),
});

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
  count: z.number().int().describe("how many events this row stands for (refusals of unauthenticated requests are aggregated per address, reason and minute)"),
  lastAt: z.date().nullable().describe("the last of an aggregated row's events"),
});

// ---- metrics ----
export const ZMetricsQuery = ZId.extend({
  from: ZDateInput.optional().describe("start of the window (ISO 8601); default: an hour before `to`"),
  to: ZDateInput.optional().describe("end of the window (ISO 8601); default: now"),
  step: ZQueryInt(1, 86_400).optional().describe("seconds per point; default: the window / 360, at least the collection interval; at most 2 000 points per window"),
});
const ZMetricsWindow = {
  from: z.date(),
  to: z.date(),
  step: z.number(),
  source: z.enum(["raw", "rollup"]).describe("raw readings (kept VMDESK_METRICS_RAW_HOURS) or 5-minute averages (kept VMDESK_METRICS_ROLLUP_DAYS)"),
};
export const ZHostMetrics = z.object({
  host: z.object({ id: z.string(), name: z.string() }),
  ...ZMetricsWindow,
  points: z.array(
    z.object({
      at: z.date(),
      cpuPct: z.number().describe("busy share of all the host's CPUs, 0–100"),
      memoryUsedMiB: z.number(),
      memoryTotalMiB: z.number(),
      diskFreeGiB: z.number().nullable().describe("free space in the host's storage pool"),
      vmCount: z.number().describe("running guests"),
    }),
  ),
});
export const ZVmMetrics = z.object({
  vm: z.object({ id: z.string(), name: z.string(), vcpus: z.number(), memoryMiB: z.number() }),
  ...ZMetricsWindow,
  points: z.array(
    z.object({
      at: z.date(),
      cpuPct: z.number().describe("share of the VM's own vCPUs, 0–100"),
      memoryMiB: z.number().describe("guest memory as the balloon sets it"),
      rssMiB: z.number().describe("QEMU's resident memory on the host"),
      diskReadBps: z.number(),
      diskWriteBps: z.number(),
      diskReadIops: z.number(),
      diskWriteIops: z.number(),
      netRxBps: z.number(),
      netTxBps: z.number(),
    }),
  ),
});

// ---- alerts ----
const ZThresholdInput = z.object({
  abovePct: z.number().min(1).max(100).optional().describe("percent above which the metric alarms"),
  windowS: z.number().int().min(1).max(86_400).optional().describe("seconds the condition must hold"),
});
export const ZThresholdsInput = z
  .object({ cpu: ZThresholdInput.optional(), memory: ZThresholdInput.optional(), disk: ZThresholdInput.optional() })
  .describe("thresholds per metric; a metric or field left out keeps its current value");
const ZThreshold = z.object({ abovePct: z.number(), windowS: z.number() });
export const ZThresholds = z.object({ cpu: ZThreshold, memory: ZThreshold, disk: ZThreshold });
export const ZAlert = z.object({
  id: z.string(),
  kind: z.string().describe("host.cpu, host.memory, host.disk, host.down, operation.stuck"),
  hostId: z.string().nullable(),
  subject: z.string(),
  state: z.enum(["firing", "resolved"]),
  message: z.string(),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  firedAt: z.date(),
  resolvedAt: z.date().nullable(),
  ackedAt: z.date().nullable(),
  ackedById: z.string().nullable(),
});
export const ZListAlertsInput = z.object({
  state: z.enum(["open", "all"]).optional().describe("open (default): firing alerts; all: with the resolved history"),
  limit: ZQueryInt(1, 500).optional(),
});

// ---- fleet overview ----
const ZThresholdOverride = z.object({ abovePct: z.number().optional(), windowS: z.number().optional() });
const ZSeries = (what: string) => z.array(z.number().nullable()).describe(`${what}, one value per bucket (from + i × step); null: no reading in that bucket`);
export const ZFleetOverview = z.object({
  at: z.date(),
  from: z.date().describe("start of the series' first bucket"),
  step: z.number().describe("seconds per series bucket (averaged readings)"),
  points: z.number().describe("buckets per series (at most 120: the last hour)"),
  global: ZThresholds,
  hosts: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      state: ZHost.shape.state,
      lastSeenAt: z.date().nullable(),
      lastError: z.string().nullable(),
      cpus: z.number().nullable(),
      vmCount: z.number().describe("VMs the host holds (running, stopped, being created or deleted)"),
      latest: z
        .object({ at: z.date(), cpuPct: z.number(), memoryUsedMiB: z.number(), memoryTotalMiB: z.number(), runningVms: z.number() })
        .nullable()
        .describe("the newest reading of the last hour; null when there is none"),
      storage: z.object({ freeGiB: z.number().nullable(), totalGiB: z.number().nullable() }).describe("the storage pool as the host monitor last measured it"),
      thresholds: ZThresholds.describe("effective: this host's overrides over the global thresholds"),
      overrides: z.object({ cpu: ZThresholdOverride.optional(), memory: ZThresholdOverride.optional(), disk: ZThresholdOverride.optional() }).describe("this host's own overrides (PATCH /hosts/{id} alertThresholds)"),
      series: z.object({ cpuPct: ZSeries("CPU %"), memoryPct: ZSeries("memory used %"), diskPct: ZSeries("storage pool used %") }),
    }),
  ),
});

// ---- load balancing ----
const ZLoadBalanceFields = {
  enabled: z.boolean(),
  cpuAbovePct: z.number().int().min(1).max(100).describe("a host's guest load (its guests' CPU over its CPUs, %) above this for the window gives up a VM"),
  windowS: z.number().int().min(10).max(86_400),
  cooldownS: z.number().int().min(0).max(86_400).describe("a host that gave up or took a VM, and the VM moved, rest this long"),
  maxMovesPerRound: z.number().int().min(1).max(20),
};
export const ZLoadBalancePolicy = z.object({
  group: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,63}=[A-Za-z0-9_.:-]{0,63}$/, "a host label as key=value")
    .nullable()
    .describe("the hosts carrying this label (key=value); null: every host"),
  ...ZLoadBalanceFields,
});
export const ZLoadBalancing = z.object({
  policies: z.array(ZLoadBalancePolicy),
  defaults: z.object(ZLoadBalanceFields),
});
export const ZSetLoadBalancingInput = z.object({
  policies: z
    .array(ZLoadBalancePolicy.partial().required({ group: true }))
    .max(20),
});

// ---- leases and serial logs ----
const ZLeaseDays = z.number().int().min(0).max(LEASE_MAX_DAYS);
const ZRoleLease = z.object({
  defaultDays: ZLeaseDays.describe("lease length at create; 0 = no lease for this role"),
  maxExtensionDays: ZLeaseDays.describe("days an owner may add over the VM's life, in total; 0 = none"),
});
export const ZLeasePolicy = z.object({
  roles: z.object({ admin: ZRoleLease, teacher: ZRoleLease, tenant: ZRoleLease }),
  warnDays: ZLeaseDays.describe("the owner is warned this many days before expiry"),
  graceDays: ZLeaseDays.describe("an expired VM is deleted this many days after its expiry"),
});
export const ZExtendLeaseInput = ZId.extend({ days: z.number().int().min(1).max(LEASE_MAX_DAYS).describe("days to add (409 past the role's maximum)") });
export const ZLease = z.object({ expiresAt: z.date(), extendedDays: z.number().int(), maxExtensionDays: z.number().int() });

/** A stream position in a query string (digits only); tRPC callers may pass a number. */
const ZQueryPosition = z
  .preprocess((v) => (typeof v === "string" && /^[0-9]{1,15}$/.test(v) ? Number(v) : v), z.number({ error: "must be a whole number" }).int().min(0).max(Number.MAX_SAFE_INTEGER))
  .meta({ type: "integer", minimum: 0 });
export const ZSerialLogQuery = ZId.extend({
  tail: ZQueryInt(1, 2 * 16 * 1024 * 1024).optional().describe(`the last this many bytes (default 65536) or lines (unit=lines, at most ${SERIAL_TAIL_MAX_LINES}, default 100)`),
  unit: z.enum(["bytes", "lines"]).optional().describe("what tail counts (default bytes)"),
  after: ZQueryPosition.optional().describe("instead of a tail: everything after this position (the end of a previous read)"),
  download: z.enum(["0", "1"]).optional().describe("1: the whole kept log as a text/plain attachment instead of JSON"),
  follow: z.enum(["0", "1"]).optional().describe("1: a text/event-stream of new output (events: data = JSON {text, start, end}), from `after` or the tail"),
});
export const ZSerialLog = z.object({
  text: z.string().describe("the slice as UTF-8 (invalid bytes replaced)"),
  bytes: z.number().int(),
  start: z.number().int().describe("stream position of the slice's first byte"),
  end: z.number().int().describe("stream position after the newest byte kept: pass as `after` to follow"),
  truncated: z.boolean().describe("older output was rotated away"),
  kept: z.number().int().describe("bytes kept in all (current + rotated segment)"),
});

/** Tenant snapshots (services/snapshot-service.ts). */
export const ZSnapshotName = z.string().regex(SNAPSHOT_NAME, `must be ${SNAPSHOT_NAME_RULE}`);
export const ZVmSnapshot = z.object({
  id: z.string(),
  name: z.string(),
  memory: z.boolean(),
  /** creating | ready | deleting */
  state: z.string(),
  createdAt: z.date(),
});
export const ZCreateSnapshotInput = ZId.extend({
  name: ZSnapshotName,
  /** Keep the guest's memory (default: while it runs); not possible for a stopped VM (412). */
  memory: z.boolean().optional(),
});
export const ZSnapshotRef = ZId.extend({ name: ZSnapshotName });
/** A user's own quota: the VM resources, and the snapshots kept on their personal VMs. */
export const ZOwnQuotaView = ZQuotaView.extend({ snapshots: z.object({ limit: z.number(), used: z.number() }).optional() });

/** PATCH /vms/{id}: a new size, any of the three; the rest stays. */
export const ZResizeVmInput = ZId.extend({
  vcpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(80, "guests need at least 80 MiB").max(1_048_576).optional(),
  diskGiB: z.number().int().min(1).max(65_536).optional().describe("disks only grow"),
  flavorId: z
    .string()
    .uuid("must be a UUID")
    .nullable()
    .optional()
    .describe("take this flavor's size (and tuning: other tuning needs the VM stopped, 412); a VM with a flavor resizes only this way; null leaves its flavor"),
});
