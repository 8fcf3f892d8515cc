"use client";

import { useMutation } from "@tanstack/react-query";
import { formatMiB } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";
import { FormError, ProgressBar } from "../ui";
import { BudgetBars } from "./budget-bars";
import type { ClassDetail } from "./use-class";

type Preview = RouterOutputs["class"]["preview"];

/** The dry run's numbers: what would be created, the budget before/after, where each VM goes, and every reason it will not fit. */
function PreviewResult({ p }: { p: Preview }) {
  return (
    <div className={p.fits ? "preview preview-fits" : "preview preview-no"} data-testid="preview-result" data-fits={p.fits ? "true" : "false"} data-vms={p.vms}>
      <p className="preview-head">
        {p.fits ? (p.vms === 0 ? "Every student already has a VM." : `Fits: ${p.vms} VM${p.vms === 1 ? "" : "s"} to create`) : `Does not fit: nothing will be created`}
        {p.placements.length ? (
          <span className="muted" data-testid="preview-placements">
            {" — "}
            {p.placements.map((x, i) => (
              <span key={x.student} data-testid="preview-placement" data-student={x.student} data-host={x.host ?? ""}>
                {i > 0 ? ", " : ""}
                {x.student} → {x.host ?? "no host"}
              </span>
            ))}
          </span>
        ) : null}
      </p>
      {p.reasons.length ? (
        <ul className="preview-reasons">
          {p.reasons.map((r) => (
            <li key={r} data-testid="preview-reason">
              {r}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="preview-grid">
        <div>
          <h3>Class budget: now + this run</h3>
          <BudgetBars budget={p.budget} adding={p.cost} compact />
          <p className="hint preview-after" data-testid="preview-after">
            After: {p.budget.after.vms}/{p.budget.limits.vms} VMs · {p.budget.after.vcpus}/{p.budget.limits.vcpus} vCPUs · {formatMiB(p.budget.after.memoryMiB)}/{formatMiB(p.budget.limits.memoryMiB)} · {p.budget.after.diskGiB}/{p.budget.limits.diskGiB} GiB
          </p>
        </div>
        <div>
          <h3>Hosts</h3>
          {p.hosts.length ? (
            <table className="table table-tight" data-testid="preview-hosts">
              <thead>
                <tr>
                  <th>Host</th>
                  <th className="num">VMs</th>
                  <th className="num">vCPUs</th>
                  <th className="num">Memory</th>
                  <th className="num">Disk</th>
                </tr>
              </thead>
              <tbody>
                {p.hosts.map((h) => (
                  <tr key={h.name} data-testid="preview-host" data-host={h.name} data-vms={h.vms}>
                    <td>{h.name}</td>
                    <td className="num">+{h.vms}</td>
                    <td className="num">+{h.vcpus}</td>
                    <td className="num">+{formatMiB(h.memoryMiB)}</td>
                    <td className="num">up to {h.diskGiB} GiB</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">No VMs placed.</p>
          )}
          {p.refusals.length ? (
            <ul className="preview-refusals muted" data-testid="preview-refusals">
              {p.refusals.map((r) => (
                <li key={r.host} data-testid="preview-refusal" data-host={r.host}>
                  {r.reason}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      </div>
    </div>
  );
}

/** Preview, then provision; the overall progress is students with a running VM out of all students. */
export function ProvisionPanel({ c, onProvisioned }: { c: ClassDetail; onProvisioned: () => void }) {
  const trpc = useTRPC();
  const preview = useMutation(trpc.class.preview.mutationOptions());
  const provision = useMutation(
    trpc.class.provision.mutationOptions({
      onSuccess: () => {
        preview.reset();
        onProvisioned();
      },
    }),
  );
  const total = c.students.length;
  const running = c.students.filter((s) => s.state === "running").length;
  const withVm = c.students.filter((s) => s.vmId).length;
  const failed = c.students.filter((s) => s.state === "error").length;
  const fits = preview.data?.fits ?? false;

  return (
    <section className="card" aria-labelledby="provision-title">
      <div className="card-title-row">
        <h2 id="provision-title" className="card-title">
          Student VMs
        </h2>
        <div className="row-actions">
          <button type="button" className="btn" onClick={() => preview.mutate({ id: c.id })} disabled={preview.isPending || total === 0} data-testid="class-preview">
            Preview
          </button>
          <button type="button" className="btn btn-primary" onClick={() => provision.mutate({ id: c.id })} disabled={!fits || provision.isPending || preview.isPending || (preview.data?.vms ?? 0) === 0} title={preview.data ? undefined : "Preview first"} data-testid="class-provision">
            Provision{preview.data && preview.data.vms > 0 ? ` ${preview.data.vms} VM${preview.data.vms === 1 ? "" : "s"}` : ""}
          </button>
        </div>
      </div>
      {total === 0 ? <p className="muted">Add students below, then preview and provision one VM each.</p> : null}
      {preview.data ? <PreviewResult p={preview.data} /> : null}
      <FormError error={preview.error} testId="preview-error" />
      <FormError error={provision.error} testId="provision-error" />
      {total > 0 && withVm > 0 ? (
        <div className="provision-progress" data-testid="provision-progress" data-done={running} data-total={total} data-failed={failed}>
          <div className="provision-progress-label">
            <span>
              <strong>
                {running}/{total}
              </strong>{" "}
              running
            </span>
            <span className="muted">
              {withVm < total ? `${total - withVm} without a VM · ` : ""}
              {failed ? <span className="text-red">{failed} failed · </span> : null}
              {c.students.filter((s) => s.state === "provisioning").length} provisioning
            </span>
          </div>
          <ProgressBar value={total ? (running / total) * 100 : 0} label="students with a running VM" />
        </div>
      ) : null}
    </section>
  );
}
