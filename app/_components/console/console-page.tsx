"use client";

import Link from "next/link";
import { errorCode } from "../../_lib/trpc";
import { LiveIndicator } from "../live-indicator";
import { StateBadge } from "../state-badge";
import { FormError, Loading } from "../ui";
import { useLiveVm } from "../use-live";
import { SerialConsole } from "./serial-console";
import { VncConsole } from "./vnc-console";

/** The full-page graphical (`vnc`) or serial console of one VM, following its state live. */
export function ConsolePage({ id, kind }: { id: string; kind: "vnc" | "serial" }) {
  const { vm, live } = useLiveVm(id);
  const code = errorCode(vm.error);
  if (code === "NOT_FOUND" || code === "BAD_REQUEST")
    return (
      <div className="notice notice-error" role="alert" data-testid="vm-not-found">
        <strong>VM not found.</strong> It does not exist, was deleted, or is not yours. <Link href="/">Back to your VMs</Link>
      </div>
    );
  if (vm.isPending) return <Loading what="VM" />;
  if (!vm.data) return <FormError error={vm.error} />;
  const v = vm.data;
  return (
    <div className="console-page" data-testid={kind === "vnc" ? "console-page" : "serial-page"} data-vm-id={v.id}>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/">My VMs</Link> <span aria-hidden="true">/</span> <Link href={`/vms/${v.id}`}>{v.name}</Link> <span aria-hidden="true">/</span> {kind === "vnc" ? "Console" : "Serial console"}
      </nav>
      <div className="page-head">
        <div>
          <h1 data-testid="vm-name">{v.name}</h1>
          <StateBadge state={v.state} guestReadyAt={v.guestReadyAt} />
          <LiveIndicator status={live} />
        </div>
        <div className="page-head-actions">
          {kind === "vnc" ? (
            <Link href={`/vms/${v.id}/serial`} data-testid="console-open-serial">
              Open serial console
            </Link>
          ) : (
            <Link href={`/vms/${v.id}/console`} data-testid="console-open-vnc">
              Open graphical console
            </Link>
          )}
          <Link href={`/vms/${v.id}`}>VM details</Link>
        </div>
      </div>
      {kind === "vnc" ? <VncConsole vmId={v.id} vmState={v.state} vmBusy={Boolean(v.activeOperationId)} variant="page" /> : <SerialConsole vmId={v.id} vmState={v.state} vmBusy={Boolean(v.activeOperationId)} />}
    </div>
  );
}
