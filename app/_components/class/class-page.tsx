"use client";

import "./class.css";
import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { formatDateTime } from "../../_lib/format";
import { errorCode, useTRPC } from "../../_lib/trpc";
import { ConfirmDialog, FormError, Loading } from "../ui";
import { BudgetBars } from "./budget-bars";
import { Checkpoints } from "./checkpoints";
import { ClassForm } from "./class-form";
import { ConsoleViewer, type ViewerTarget } from "./console-viewer";
import { ProvisionPanel } from "./provision-panel";
import { RosterForm } from "./roster-form";
import { RosterTable } from "./roster-table";
import { Sessions } from "./sessions";
import { Submissions } from "./submissions-panel";
import { useClass, type ClassDetail } from "./use-class";

function Header({ c, onChanged }: { c: ClassDetail; onChanged: () => void }) {
  const trpc = useTRPC();
  const [confirmFreeze, setConfirmFreeze] = useState(false);
  const freeze = useMutation(trpc.class.freeze.mutationOptions({ onSuccess: onChanged }));
  const unfreeze = useMutation(trpc.class.unfreeze.mutationOptions({ onSuccess: onChanged }));
  const running = c.students.filter((s) => s.state === "running").length;
  return (
    <>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/classes">Classes</Link> <span aria-hidden="true">/</span> {c.name}
      </nav>
      <div className="page-head">
        <div>
          <h1 data-testid="class-name">{c.name}</h1>
          {c.frozenAt ? (
            <span className="badge badge-amber" data-testid="class-frozen" title={`Frozen ${formatDateTime(c.frozenAt)}`}>
              <span className="badge-dot" aria-hidden="true" />
              frozen
            </span>
          ) : null}
          {c.expiredAt ? <span className="badge badge-grey">expired</span> : null}
        </div>
        <div className="page-head-actions">
          <Link href={`/classes/${c.id}/wall`} className="btn" data-testid="open-wall">
            ▦ Videowall ({running})
          </Link>
          {c.frozenAt ? (
            <button type="button" className="btn" disabled={unfreeze.isPending} onClick={() => unfreeze.mutate({ id: c.id })} data-testid="class-unfreeze">
              Unfreeze
            </button>
          ) : (
            <button type="button" className="btn btn-danger-outline" disabled={freeze.isPending} onClick={() => setConfirmFreeze(true)} data-testid="class-freeze">
              Exam freeze…
            </button>
          )}
        </div>
      </div>
      <FormError error={freeze.error ?? unfreeze.error} testId="freeze-error" />
      {c.expiryWarning ? (
        <div className="notice notice-warn" role="alert" data-testid="class-expiry-warning">
          {c.expiryWarning}
        </div>
      ) : null}
      <div className="class-header card">
        <div className="class-facts">
          <div>
            <h3>Join code</h3>
            <code className="join-code" data-testid="class-join-code">
              {c.joinCode ?? "—"}
            </code>
            <p className="hint">Students enter it on their dashboard.</p>
          </div>
          <div>
            <h3>Lab template</h3>
            <p className="fact">
              {c.image.name}
              <br />
              <span className="muted">
                {c.vcpus} vCPU · {c.memoryMiB} MiB · {c.diskGiB} GiB{c.isolatedNetwork ? " · isolated network" : ""}
              </span>
            </p>
          </div>
          <div>
            <h3>Students may</h3>
            <p className="fact muted">{[c.studentsMayPower && "start/stop", c.studentsMayReset && "reset", c.studentsMayRevert && "revert"].filter(Boolean).join(", ") || "nothing"}</p>
          </div>
          <div>
            <h3>Term</h3>
            <p className="fact muted">
              {c.termStart ? formatDateTime(c.termStart).slice(0, 11) : "…"} – {c.termEnd ? formatDateTime(c.termEnd).slice(0, 11) : "…"}
              {c.expiresAt ? (
                <>
                  <br />
                  VMs deleted {formatDateTime(c.expiresAt).slice(0, 11)}
                </>
              ) : null}
            </p>
          </div>
        </div>
        <div className="class-budget">
          <h3>Budget</h3>
          <BudgetBars budget={c.budget} compact />
        </div>
      </div>
      <ConfirmDialog
        open={confirmFreeze}
        title="Freeze the class for the exam?"
        message="Every student VM is shut down, a “submission” snapshot is taken of each, and students can no longer act on their VMs until you unfreeze."
        confirmLabel="Freeze now"
        danger
        onConfirm={() => {
          setConfirmFreeze(false);
          freeze.mutate({ id: c.id });
        }}
        onCancel={() => setConfirmFreeze(false)}
      />
    </>
  );
}

function Settings({ c, onChanged }: { c: ClassDetail; onChanged: () => void }) {
  const trpc = useTRPC();
  const [open, setOpen] = useState(false);
  const update = useMutation(
    trpc.class.update.mutationOptions({
      onSuccess: () => {
        setOpen(false);
        onChanged();
      },
    }),
  );
  return (
    <section className="card" aria-labelledby="settings-title">
      <div className="card-title-row">
        <h2 id="settings-title" className="card-title">
          Settings
        </h2>
        {!open ? (
          <button type="button" className="btn btn-sm" onClick={() => setOpen(true)} data-testid="class-edit">
            Edit settings
          </button>
        ) : null}
      </div>
      {open ? (
        <ClassForm key={c.id} kind="edit" initial={c} pending={update.isPending} error={update.error} onSubmit={({ imageId: _image, ...f }) => update.mutate({ id: c.id, ...f })} onCancel={() => setOpen(false)} />
      ) : (
        <p className="muted">Template size, budget, student permissions and dates. A new size applies to VMs provisioned or reset afterwards.</p>
      )}
    </section>
  );
}

/** A teacher's class: header, provisioning, the roster with its actions, checkpoints, sessions, settings. */
export function ClassPage({ id }: { id: string }) {
  const { query, refresh } = useClass(id);
  const [viewing, setViewing] = useState<string | null>(null);
  const code = errorCode(query.error);
  if (code === "NOT_FOUND" || code === "BAD_REQUEST")
    return (
      <div className="notice notice-error" role="alert" data-testid="class-not-found">
        <strong>Class not found.</strong> It does not exist or you do not teach it. <Link href="/classes">Back to classes</Link>
      </div>
    );
  if (query.isPending) return <Loading what="class" />;
  if (!query.data) return <FormError error={query.error} />;
  const c = query.data;
  const onChanged = () => void refresh();
  const viewed = c.students.find((s) => s.userId === viewing);
  const target: ViewerTarget | null = viewed?.vmId && viewed.state ? { vmId: viewed.vmId, username: viewed.username, displayName: viewed.displayName, state: viewed.state, guestReady: viewed.guestReady } : null;
  return (
    <div className="class-page" data-testid="class-page" data-class-id={c.id}>
      <Header c={c} onChanged={onChanged} />
      <ProvisionPanel c={c} onProvisioned={onChanged} />
      <section className="card" aria-labelledby="roster-title">
        <h2 id="roster-title" className="card-title">
          Roster <span className="muted">({c.students.length})</span>
        </h2>
        <RosterTable c={c} onChanged={onChanged} onView={(s) => setViewing(s.userId)} />
        <h3 className="roster-add-title">Add students</h3>
        <RosterForm classId={c.id} className={c.name} onAdded={onChanged} />
      </section>
      <div className="detail-grid">
        <Checkpoints c={c} onChanged={onChanged} />
        <Submissions c={c} />
        <Sessions c={c} onChanged={onChanged} />
      </div>
      <Settings c={c} onChanged={onChanged} />
      {target ? <ConsoleViewer target={target} onClose={() => setViewing(null)} /> : null}
    </div>
  );
}
