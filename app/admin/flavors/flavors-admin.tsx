"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ConfirmDialog, FormError, Loading } from "../../_components/ui";
import { useTRPC, type RouterInputs, type RouterOutputs } from "../../_lib/trpc";

type Flavor = RouterOutputs["flavor"]["list"][number];
type Tuning = NonNullable<RouterInputs["flavor"]["create"]["tuning"]>;

/** The numeric knobs: blank = not set (libvirt's default, unlimited). */
const NUMBER_KNOBS: Array<{ key: keyof Tuning; label: string; group: string }> = [
  { key: "cpuShares", label: "CPU shares", group: "CPU" },
  { key: "cpuPeriodUs", label: "CFS period (µs)", group: "CPU" },
  { key: "cpuQuotaUs", label: "CFS quota (µs)", group: "CPU" },
  { key: "numaNodes", label: "Guest NUMA cells", group: "NUMA" },
  { key: "diskTotalIops", label: "Disk IOPS (total)", group: "Disk" },
  { key: "diskReadIops", label: "Disk read IOPS", group: "Disk" },
  { key: "diskWriteIops", label: "Disk write IOPS", group: "Disk" },
  { key: "diskTotalBytesSec", label: "Disk bytes/s (total)", group: "Disk" },
  { key: "diskReadBytesSec", label: "Disk read bytes/s", group: "Disk" },
  { key: "diskWriteBytesSec", label: "Disk write bytes/s", group: "Disk" },
  { key: "netInAverageKiBs", label: "In average KiB/s", group: "Network" },
  { key: "netInPeakKiBs", label: "In peak KiB/s", group: "Network" },
  { key: "netInBurstKiB", label: "In burst KiB", group: "Network" },
  { key: "netOutAverageKiBs", label: "Out average KiB/s", group: "Network" },
  { key: "netOutPeakKiBs", label: "Out peak KiB/s", group: "Network" },
  { key: "netOutBurstKiB", label: "Out burst KiB", group: "Network" },
];

function FlavorForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const devices = useQuery(trpc.flavor.devices.queryOptions());
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [isPublic, setPublic] = useState(true);
  const [size, setSize] = useState({ vcpus: "1", memoryMiB: "128", diskGiB: "1" });
  const [numbers, setNumbers] = useState<Record<string, string>>({});
  const [dedicated, setDedicated] = useState(false);
  const [hugepages, setHugepages] = useState("");
  const [numaMode, setNumaMode] = useState("");
  const [numaNodeset, setNumaNodeset] = useState("");
  const [firmware, setFirmware] = useState<"bios" | "uefi">("bios");
  const [secureBoot, setSecureBoot] = useState(false);
  const [tpm, setTpm] = useState(false);
  const [deviceIds, setDeviceIds] = useState<string[]>([]);
  const [localError, setLocalError] = useState<string | null>(null);
  const create = useMutation(
    trpc.flavor.create.mutationOptions({
      onSuccess: () => {
        setName("");
        setDescription("");
        void queryClient.invalidateQueries({ queryKey: trpc.flavor.pathKey() });
      },
    }),
  );

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    const tuning: Tuning = { dedicatedCpus: dedicated, firmware, secureBoot, tpm };
    for (const k of NUMBER_KNOBS) {
      const raw = numbers[k.key]?.trim();
      if (!raw) continue;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) return setLocalError(`${k.label} must be a whole number`);
      (tuning as Record<string, unknown>)[k.key] = n;
    }
    if (hugepages) tuning.hugepagesKiB = Number(hugepages);
    if (numaMode) tuning.numaMode = numaMode as NonNullable<Tuning["numaMode"]>;
    if (numaNodeset.trim()) tuning.numaNodeset = numaNodeset.trim();
    create.mutate({
      name: name.trim(),
      description: description.trim() || undefined,
      public: isPublic,
      vcpus: Number(size.vcpus),
      memoryMiB: Number(size.memoryMiB),
      diskGiB: Number(size.diskGiB),
      tuning,
      hostDeviceIds: deviceIds,
    });
  }

  return (
    <section className="card" aria-labelledby="new-flavor-title">
      <h2 id="new-flavor-title" className="card-title">
        New flavor
      </h2>
      <form className="form" onSubmit={onSubmit} noValidate data-testid="flavor-form">
        <div className="field-row">
          <label className="field">
            <span>Name</span>
            <input value={name} onChange={(e) => setName(e.target.value)} required data-testid="flavor-name" />
          </label>
          <label className="field grow">
            <span>Description (tenants see it)</span>
            <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} data-testid="flavor-description" />
          </label>
          <label className="check">
            <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> public
          </label>
        </div>
        <div className="field-row">
          {(["vcpus", "memoryMiB", "diskGiB"] as const).map((k) => (
            <label className="field" key={k}>
              <span>{{ vcpus: "vCPUs", memoryMiB: "Memory (MiB)", diskGiB: "Disk (GiB)" }[k]}</span>
              <input type="number" min={1} value={size[k]} onChange={(e) => setSize({ ...size, [k]: e.target.value })} data-testid={`flavor-${k}`} />
            </label>
          ))}
        </div>
        <div className="field-row">
          <label className="check">
            <input type="checkbox" checked={dedicated} onChange={(e) => setDedicated(e.target.checked)} data-testid="flavor-dedicated" /> dedicated CPUs (one pCPU per vCPU)
          </label>
          <label className="field">
            <span>Huge pages</span>
            <select value={hugepages} onChange={(e) => setHugepages(e.target.value)} data-testid="flavor-hugepages">
              <option value="">none</option>
              <option value="2048">2 MiB</option>
              <option value="1048576">1 GiB</option>
            </select>
          </label>
          <label className="field">
            <span>NUMA memory mode</span>
            <select value={numaMode} onChange={(e) => setNumaMode(e.target.value)}>
              <option value="">none</option>
              {["strict", "preferred", "interleave", "restrictive"].map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Host NUMA nodes</span>
            <input value={numaNodeset} onChange={(e) => setNumaNodeset(e.target.value)} placeholder="0 or 0-1" />
          </label>
        </div>
        <div className="field-row" style={{ flexWrap: "wrap" }}>
          {NUMBER_KNOBS.map((k) => (
            <label className="field" key={k.key} style={{ width: 150 }}>
              <span>{k.label}</span>
              <input type="number" min={0} value={numbers[k.key] ?? ""} onChange={(e) => setNumbers({ ...numbers, [k.key]: e.target.value })} placeholder="—" data-testid={`flavor-${k.key}`} />
            </label>
          ))}
        </div>
        <div className="field-row">
          <label className="field">
            <span>Firmware</span>
            <select value={firmware} onChange={(e) => setFirmware(e.target.value as "bios" | "uefi")} data-testid="flavor-firmware">
              <option value="bios">BIOS</option>
              <option value="uefi">UEFI (OVMF)</option>
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={secureBoot} disabled={firmware !== "uefi"} onChange={(e) => setSecureBoot(e.target.checked)} /> Secure Boot
          </label>
          <label className="check">
            <input type="checkbox" checked={tpm} onChange={(e) => setTpm(e.target.checked)} /> TPM 2.0
          </label>
        </div>
        {devices.data && devices.data.length > 0 ? (
          <fieldset className="field" style={{ border: 0, padding: 0 }}>
            <span>PCI devices passed through</span>
            {devices.data.map((d) => (
              <label className="check" key={d.id}>
                <input
                  type="checkbox"
                  checked={deviceIds.includes(d.id)}
                  onChange={(e) => setDeviceIds(e.target.checked ? [...deviceIds, d.id] : deviceIds.filter((x) => x !== d.id))}
                />{" "}
                {d.host.name} {d.pciAddress} {d.description}
              </label>
            ))}
          </fieldset>
        ) : null}
        <FormError error={localError ?? create.error} />
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={create.isPending} data-testid="flavor-submit">
            {create.isPending ? "Saving…" : "Create flavor"}
          </button>
        </div>
      </form>
    </section>
  );
}

/** The knobs a flavor sets, in one line. */
function knobsOf(f: Flavor): string {
  const t = f.tuning;
  if (!t) return "";
  const parts = [
    t.dedicatedCpus ? "dedicated CPUs" : null,
    t.numaNodes > 0 ? `${t.numaNodes} NUMA cells` : null,
    t.numaMode ? `numatune ${t.numaMode} ${t.numaNodeset}` : null,
    t.hugepagesKiB ? `huge pages ${t.hugepagesKiB} KiB` : null,
    t.cpuShares !== null ? `shares ${t.cpuShares}` : null,
    t.cpuQuotaUs !== null ? `quota ${t.cpuQuotaUs}/${t.cpuPeriodUs ?? 100000} µs` : null,
    t.diskTotalIops ?? t.diskReadIops ?? t.diskWriteIops ? "disk IOPS limit" : null,
    t.diskTotalBytesSec ?? t.diskReadBytesSec ?? t.diskWriteBytesSec ? "disk bytes/s limit" : null,
    t.netInAverageKiBs !== null || t.netOutAverageKiBs !== null ? "network bandwidth" : null,
    t.firmware === "uefi" ? `UEFI${t.secureBoot ? " + Secure Boot" : ""}` : null,
    t.tpm ? "TPM" : null,
    f.hostDevices?.length ? `${f.hostDevices.length} PCI device(s)` : null,
  ];
  return parts.filter(Boolean).join(", ") || "no tuning";
}

function FlavorRow({ flavor }: { flavor: Flavor }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(trpc.flavor.delete.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.flavor.pathKey() }) }));
  return (
    <tr data-testid="flavor-row" data-flavor-name={flavor.name}>
      <td>
        <strong>{flavor.name}</strong>
        {flavor.public === false ? <span className="muted"> (private)</span> : null}
        {flavor.description ? <div className="muted">{flavor.description}</div> : null}
      </td>
      <td className="num">{flavor.vcpus}</td>
      <td className="num">{flavor.memoryMiB} MiB</td>
      <td className="num">{flavor.diskGiB} GiB</td>
      <td>{knobsOf(flavor)}</td>
      <td className="num">{flavor.vmCount ?? "—"}</td>
      <td>
        <button type="button" className="btn btn-sm btn-danger-outline" disabled={remove.isPending} onClick={() => setConfirming(true)} data-testid={`flavor-delete-${flavor.name}`}>
          Delete
        </button>
        <FormError error={remove.error} />
        <ConfirmDialog
          open={confirming}
          title={`Delete flavor “${flavor.name}”?`}
          message="Only a flavor no VM uses can be deleted."
          confirmLabel="Delete"
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            remove.mutate({ id: flavor.id });
          }}
        />
      </td>
    </tr>
  );
}

function DevicePool() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const devices = useQuery(trpc.flavor.devices.queryOptions());
  const hosts = useQuery(trpc.host.list.queryOptions());
  const [hostId, setHostId] = useState("");
  const [address, setAddress] = useState("");
  const [description, setDescription] = useState("");
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.flavor.pathKey() });
  const add = useMutation(trpc.flavor.addDevice.mutationOptions({ onSuccess: () => (setAddress(""), setDescription(""), refresh()) }));
  const remove = useMutation(trpc.flavor.removeDevice.mutationOptions({ onSuccess: refresh }));
  const selectedHost = hostId || hosts.data?.[0]?.id || "";
  return (
    <section className="card" aria-labelledby="device-pool-title">
      <h2 id="device-pool-title" className="card-title">
        PCI passthrough pool
      </h2>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate({ hostId: selectedHost, pciAddress: address.trim(), description: description.trim() || undefined });
        }}
        data-testid="device-form"
      >
        <label className="field">
          <span>Host</span>
          <select value={selectedHost} onChange={(e) => setHostId(e.target.value)}>
            {hosts.data?.map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>PCI address</span>
          <input value={address} onChange={(e) => setAddress(e.target.value)} placeholder="0000:65:00.0" data-testid="device-address" />
        </label>
        <label className="field grow">
          <span>Description</span>
          <input value={description} onChange={(e) => setDescription(e.target.value)} maxLength={200} />
        </label>
        <button type="submit" className="btn" disabled={add.isPending || !selectedHost}>
          Add device
        </button>
      </form>
      <FormError error={add.error ?? remove.error ?? devices.error} />
      {devices.data?.length ? (
        <table className="table" data-testid="devices-table">
          <tbody>
            {devices.data.map((d) => (
              <tr key={d.id}>
                <td className="nowrap">{d.host.name}</td>
                <td className="mono">{d.pciAddress}</td>
                <td>{d.description}</td>
                <td className="muted">{d.flavors.map((f) => f.name).join(", ") || "in no flavor"}</td>
                <td>
                  <button type="button" className="btn btn-sm btn-danger-outline" disabled={remove.isPending} onClick={() => remove.mutate({ id: d.id })}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No devices in the pool.</p>
      )}
    </section>
  );
}

export function FlavorsAdmin() {
  const trpc = useTRPC();
  const flavors = useQuery(trpc.flavor.list.queryOptions());
  return (
    <>
      <div className="page-head">
        <h1>Flavors</h1>
      </div>
      <p className="muted">Tenants pick a flavor by name and size; the tuning is applied to the VM's definition and is visible here only.</p>
      <FlavorForm />
      <section className="card" aria-label="Flavors">
        {flavors.isPending ? (
          <Loading what="flavors" />
        ) : flavors.error ? (
          <FormError error={flavors.error} />
        ) : flavors.data.length === 0 ? (
          <p className="muted">No flavors yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="flavors-table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th className="num">vCPUs</th>
                  <th className="num">Memory</th>
                  <th className="num">Disk</th>
                  <th>Tuning</th>
                  <th className="num">VMs</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {flavors.data.map((f) => (
                  <FlavorRow key={f.id} flavor={f} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <DevicePool />
    </>
  );
}
