"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { JoinClass } from "./_components/class/join-class";
import { ConsoleThumbnail } from "./_components/console/console-thumbnail";
import { CreateVmDialog } from "./_components/create-vm-dialog";
import { LiveIndicator } from "./_components/live-indicator";
import { QuotaBars } from "./_components/quota-bars";
import { StateBadge } from "./_components/state-badge";
import { FormError, Loading } from "./_components/ui";
import { useLiveVms } from "./_components/use-live";
import { domainTypeLabel, formatMiB } from "./_lib/format";
import { useTRPC, type Vm } from "./_lib/trpc";

function VmCard({ vm, showOwner }: { vm: Vm; showOwner: boolean }) {
  return (
    <li className="card vm-card" data-testid="vm-card" data-vm-id={vm.id} data-vm-name={vm.name}>
      <div className="vm-card-head">
        <Link href={`/vms/${vm.id}`} className="vm-card-name" data-testid="vm-card-link">
          {vm.name}
        </Link>
        <StateBadge state={vm.state} guestReadyAt={vm.guestReadyAt} />
      </div>
      {vm.state === "running" ? <ConsoleThumbnail vmId={vm.id} name={vm.name} /> : null}
      <p className="vm-card-specs">
        {vm.vcpus} vCPU · {formatMiB(vm.memoryMiB)} · {vm.diskGiB} GiB
      </p>
      <dl className="vm-card-meta">
        <dt>Image</dt>
        <dd>{vm.image?.name ?? "—"}</dd>
        <dt>Host</dt>
        <dd>
          {vm.host.name} <span className="muted">({domainTypeLabel(vm.host.domainType)})</span>
        </dd>
        {showOwner ? (
          <>
            <dt>Owner</dt>
            <dd data-testid="vm-card-owner">{vm.owner.username}</dd>
          </>
        ) : null}
      </dl>
      {vm.class ? (
        <p className="vm-card-class muted" data-testid="vm-card-class">
          Class: {vm.class.name}
          {vm.class.frozen ? " · frozen for the exam" : ""}
        </p>
      ) : null}
      {vm.class?.expiryWarning ? (
        <p className="vm-card-msg" data-testid="vm-card-expiry">
          {vm.class.expiryWarning}
        </p>
      ) : null}
      {vm.leaseWarnedAt && vm.leaseExpiresAt ? (
        <p className="vm-card-msg" data-testid="vm-card-lease">
          {new Date(vm.leaseExpiresAt).getTime() <= Date.now()
            ? `Lease expired ${new Date(vm.leaseExpiresAt).toLocaleString()}: stopped, and deleted after the grace period unless extended.`
            : `Lease ends ${new Date(vm.leaseExpiresAt).toLocaleString()}: the VM will be stopped then. Extend it on the VM's page.`}
        </p>
      ) : null}
      {vm.stateMessage && (vm.state === "error" || vm.state === "missing" || vm.state === "unknown") ? (
        <p className="vm-card-msg" data-testid="vm-card-message">
          {vm.stateMessage}
        </p>
      ) : null}
      {vm.activeOperationId ? (
        <p className="vm-card-op muted" data-testid="vm-card-busy">
          Operation in progress…
        </p>
      ) : null}
    </li>
  );
}

export function Dashboard() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  const quota = useQuery(trpc.auth.quota.queryOptions());
  const [all, setAll] = useState(false);
  const [creating, setCreating] = useState(false);
  const { list, live } = useLiveVms(all);
  const isAdmin = me.data?.role === "admin";

  return (
    <>
      <div className="page-head">
        <div>
          <h1>{all ? "All VMs" : "My VMs"}</h1>
          <LiveIndicator status={live} />
        </div>
        <div className="page-head-actions">
          {isAdmin ? (
            <label className="check">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} data-testid="show-all-vms" />
              Show all users&apos; VMs
            </label>
          ) : null}
          <button type="button" className="btn btn-primary" onClick={() => setCreating(true)} data-testid="create-vm-button">
            + Create VM
          </button>
        </div>
      </div>

      <section className="card quota-card" aria-labelledby="quota-title">
        <h2 id="quota-title" className="card-title">
          Quota usage
        </h2>
        {quota.data ? <QuotaBars quota={quota.data} /> : quota.error ? <FormError error={quota.error} testId="quota-error" /> : <Loading what="quota" />}
      </section>

      {me.data?.role === "tenant" ? <JoinClass /> : null}

      <section aria-label="Virtual machines">
        {list.isPending ? (
          <Loading what="VMs" />
        ) : list.error ? (
          <FormError error={list.error} testId="vm-list-error" />
        ) : list.data.length === 0 ? (
          <div className="empty" data-testid="vm-list-empty">
            <p>No VMs yet.</p>
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              Create your first VM
            </button>
          </div>
        ) : (
          <ul className="vm-grid" data-testid="vm-list">
            {list.data.map((vm) => (
              <VmCard key={vm.id} vm={vm} showOwner={all || vm.ownerId !== me.data?.id} />
            ))}
          </ul>
        )}
      </section>

      <CreateVmDialog open={creating} onClose={() => setCreating(false)} onCreated={() => setCreating(false)} />
    </>
  );
}
