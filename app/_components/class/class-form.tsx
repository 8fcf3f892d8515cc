"use client";

import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTRPC, type RouterInputs, type RouterOutputs } from "../../_lib/trpc";
import { FormError, Loading } from "../ui";

type ClassDetail = RouterOutputs["class"]["get"];
export type ClassFields = Omit<RouterInputs["class"]["create"], "imageId">;

const MIN_MEMORY_MIB = 80;

/** A date as the value of an <input type="date"> (local calendar day), or "" for none. */
function dateValue(d: Date | null | undefined): string {
  if (!d) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function parseDate(v: string): Date | undefined {
  return v ? new Date(`${v}T00:00:00`) : undefined;
}

interface Values {
  name: string;
  imageId: string;
  vcpus: string;
  memoryMiB: string;
  diskGiB: string;
  budgetVms: string;
  budgetVcpus: string;
  budgetMemoryMiB: string;
  budgetDiskGiB: string;
  isolatedNetwork: boolean;
  studentsMayPower: boolean;
  studentsMayReset: boolean;
  studentsMayRevert: boolean;
  termStart: string;
  termEnd: string;
  expiresAt: string;
  preStartMinutes: string;
}

function initialValues(c?: ClassDetail): Values {
  return {
    name: c?.name ?? "",
    imageId: c?.image.id ?? "",
    vcpus: String(c?.vcpus ?? 1),
    memoryMiB: String(c?.memoryMiB ?? 128),
    diskGiB: String(c?.diskGiB ?? 1),
    budgetVms: String(c?.budget.limits.vms ?? 30),
    budgetVcpus: String(c?.budget.limits.vcpus ?? 30),
    budgetMemoryMiB: String(c?.budget.limits.memoryMiB ?? 4096),
    budgetDiskGiB: String(c?.budget.limits.diskGiB ?? 30),
    isolatedNetwork: c?.isolatedNetwork ?? false,
    studentsMayPower: c?.studentsMayPower ?? true,
    studentsMayReset: c?.studentsMayReset ?? true,
    studentsMayRevert: c?.studentsMayRevert ?? false,
    termStart: dateValue(c?.termStart),
    termEnd: dateValue(c?.termEnd),
    expiresAt: dateValue(c?.expiresAt),
    preStartMinutes: String(c?.preStartMinutes ?? 10),
  };
}

function wholeNumber(label: string, v: string, min: number): number {
  const n = v.trim() === "" ? NaN : Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${label} must be a whole number of at least ${min}`);
  return n;
}

/**
 * The lab template, budget, permissions and dates of a class. `kind="create"` adds the name's
 * image choice; `kind="edit"` starts from the class (the image of an existing class is fixed).
 */
export function ClassForm({ kind, initial, pending, error, onSubmit, onCancel }: { kind: "create" | "edit"; initial?: ClassDetail; pending: boolean; error: unknown; onSubmit: (fields: ClassFields & { imageId?: string }) => void; onCancel?: () => void }) {
  const trpc = useTRPC();
  const images = useQuery({ ...trpc.image.list.queryOptions(), enabled: kind === "create" });
  const teaching = useQuery(trpc.class.teachingQuota.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  const [v, setV] = useState<Values>(() => initialValues(initial));
  const [localError, setLocalError] = useState<string | null>(null);
  const diskImages = images.data?.filter((i) => i.format !== "iso") ?? [];
  const imageId = v.imageId || diskImages[0]?.id || "";
  const t = (field: string) => `class-${kind}-${field}`;
  const set = <K extends keyof Values>(key: K) => (value: Values[K]) => setV((old) => ({ ...old, [key]: value }));

  function submit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    try {
      if (!v.name.trim()) throw new Error("Name is required");
      if (kind === "create" && !imageId) throw new Error("Choose a disk image for the lab template");
      const fields: ClassFields & { imageId?: string } = {
        name: v.name.trim(),
        vcpus: wholeNumber("vCPUs", v.vcpus, 1),
        memoryMiB: wholeNumber("Memory", v.memoryMiB, MIN_MEMORY_MIB),
        diskGiB: wholeNumber("Disk", v.diskGiB, 1),
        budget: {
          vms: wholeNumber("Budget VMs", v.budgetVms, 0),
          vcpus: wholeNumber("Budget vCPUs", v.budgetVcpus, 0),
          memoryMiB: wholeNumber("Budget memory", v.budgetMemoryMiB, 0),
          diskGiB: wholeNumber("Budget disk", v.budgetDiskGiB, 0),
        },
        isolatedNetwork: v.isolatedNetwork,
        studentsMayPower: v.studentsMayPower,
        studentsMayReset: v.studentsMayReset,
        studentsMayRevert: v.studentsMayRevert,
        preStartMinutes: wholeNumber("Start before sessions", v.preStartMinutes, 0),
        termStart: parseDate(v.termStart),
        termEnd: parseDate(v.termEnd),
        expiresAt: parseDate(v.expiresAt),
      };
      if (fields.termStart && fields.termEnd && fields.termEnd < fields.termStart) throw new Error("The term ends before it starts");
      onSubmit(kind === "create" ? { ...fields, imageId } : fields);
    } catch (err) {
      setLocalError(err instanceof Error ? err.message : String(err));
    }
  }

  return (
    <form className="form class-form" onSubmit={submit} data-testid={`class-${kind}-form`}>
      <div className="field-row">
        <label className="field grow-2">
          <span>Name</span>
          <input value={v.name} onChange={(e) => set("name")(e.target.value)} maxLength={100} placeholder="Networks 101 — lab A" data-testid={t("name")} required />
        </label>
        {kind === "create" ? (
          <label className="field grow-2">
            <span>Lab image</span>
            {images.isPending ? (
              <Loading what="images" />
            ) : (
              <select value={imageId} onChange={(e) => set("imageId")(e.target.value)} data-testid={t("image")}>
                {diskImages.length === 0 ? <option value="">no disk images</option> : null}
                {diskImages.map((i) => (
                  <option key={i.id} value={i.id}>
                    {i.name} ({i.format}, ≥ {i.minDiskGiB} GiB)
                  </option>
                ))}
              </select>
            )}
          </label>
        ) : (
          <div className="field grow-2">
            <span>Lab image</span>
            <p className="field-static">{initial?.image.name}</p>
          </div>
        )}
      </div>
      <fieldset>
        <legend>Each student VM</legend>
        <Num label="vCPUs" value={v.vcpus} onChange={set("vcpus")} testId={t("vcpus")} min={1} />
        <Num label="Memory (MiB)" value={v.memoryMiB} onChange={set("memoryMiB")} testId={t("memory")} min={MIN_MEMORY_MIB} />
        <Num label="Disk (GiB)" value={v.diskGiB} onChange={set("diskGiB")} testId={t("disk")} min={1} />
        <label className="check">
          <input type="checkbox" checked={v.isolatedNetwork} onChange={(e) => set("isolatedNetwork")(e.target.checked)} data-testid={t("isolated")} disabled={kind === "edit"} />
          Isolated class network (students reach each other, not the outside)
        </label>
      </fieldset>
      <fieldset>
        <legend>Class budget (all student VMs together)</legend>
        <Num label="VMs" value={v.budgetVms} onChange={set("budgetVms")} testId={t("budget-vms")} min={0} />
        <Num label="vCPUs" value={v.budgetVcpus} onChange={set("budgetVcpus")} testId={t("budget-vcpus")} min={0} />
        <Num label="Memory (MiB)" value={v.budgetMemoryMiB} onChange={set("budgetMemoryMiB")} testId={t("budget-memory")} min={0} />
        <Num label="Disk (GiB)" value={v.budgetDiskGiB} onChange={set("budgetDiskGiB")} testId={t("budget-disk")} min={0} />
        {teaching.data && me.data?.role === "teacher" ? <TeachingQuotaLeft quota={teaching.data} current={initial?.budget.limits} /> : null}
      </fieldset>
      <fieldset>
        <legend>Students may</legend>
        <label className="check">
          <input type="checkbox" checked={v.studentsMayPower} onChange={(e) => set("studentsMayPower")(e.target.checked)} data-testid={t("may-power")} />
          start and stop their VM
        </label>
        <label className="check">
          <input type="checkbox" checked={v.studentsMayReset} onChange={(e) => set("studentsMayReset")(e.target.checked)} data-testid={t("may-reset")} />
          reset it
        </label>
        <label className="check">
          <input type="checkbox" checked={v.studentsMayRevert} onChange={(e) => set("studentsMayRevert")(e.target.checked)} data-testid={t("may-revert")} />
          revert it to a checkpoint
        </label>
      </fieldset>
      <fieldset>
        <legend>Dates</legend>
        <label className="field">
          <span>Term starts</span>
          <input type="date" value={v.termStart} onChange={(e) => set("termStart")(e.target.value)} data-testid={t("term-start")} />
        </label>
        <label className="field">
          <span>Term ends</span>
          <input type="date" value={v.termEnd} onChange={(e) => set("termEnd")(e.target.value)} data-testid={t("term-end")} />
        </label>
        <label className="field">
          <span>VMs deleted on</span>
          <input type="date" value={v.expiresAt} onChange={(e) => set("expiresAt")(e.target.value)} data-testid={t("expires")} />
        </label>
        <Num label="Start before sessions (min)" value={v.preStartMinutes} onChange={set("preStartMinutes")} testId={t("prestart")} min={0} />
      </fieldset>
      <FormError error={localError ?? error} testId={`class-${kind}-error`} />
      <div className="form-actions">
        {onCancel ? (
          <button type="button" className="btn" onClick={onCancel} data-testid={t("cancel")}>
            Cancel
          </button>
        ) : null}
        <button type="submit" className="btn btn-primary" disabled={pending} data-testid={t("submit")}>
          {kind === "create" ? "Create class" : "Save settings"}
        </button>
      </div>
    </form>
  );
}

function Num({ label, value, onChange, testId, min }: { label: string; value: string; onChange: (v: string) => void; testId: string; min: number }) {
  return (
    <label className="field field-num">
      <span>{label}</span>
      <input type="number" inputMode="numeric" min={min} step={1} value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId} />
    </label>
  );
}

type Amounts = { vms: number; vcpus: number; memoryMiB: number; diskGiB: number };

/** What the admin-granted teaching quota leaves for this class (an edited class's own budget counts as free). */
function TeachingQuotaLeft({ quota, current }: { quota: { limits: Amounts; used: Amounts }; current?: Amounts }) {
  const left = (k: keyof Amounts) => Math.max(0, quota.limits[k] - quota.used[k] + (current?.[k] ?? 0));
  return (
    <p className="muted" style={{ flexBasis: "100%", margin: 0 }} data-testid="teaching-quota-left" data-vms={left("vms")}>
      Your teaching quota (granted by an admin, shared by all your classes) leaves {left("vms")} VMs, {left("vcpus")} vCPUs, {left("memoryMiB")} MiB and {left("diskGiB")} GiB for this budget.
    </p>
  );
}
