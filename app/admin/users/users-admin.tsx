"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Fragment, useState, type FormEvent } from "react";
import { QuotaBars } from "../../_components/quota-bars";
import { FormError, Loading } from "../../_components/ui";
import { formatDateTime } from "../../_lib/format";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";

type User = RouterOutputs["user"]["list"][number];
type Role = User["role"];
const ROLES: Role[] = ["tenant", "teacher", "admin"];

function CreateUserForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("tenant");
  const [displayName, setDisplayName] = useState("");
  const create = useMutation(
    trpc.user.create.mutationOptions({
      onSuccess: () => {
        setUsername("");
        setPassword("");
        setDisplayName("");
        void queryClient.invalidateQueries({ queryKey: trpc.user.list.queryKey() });
      },
    }),
  );

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ username: username.trim(), password: password || undefined, role, displayName: displayName.trim() || undefined });
  }

  return (
    <section className="card" aria-labelledby="create-user-title">
      <h2 id="create-user-title" className="card-title">
        Create user
      </h2>
      <form className="inline-form" onSubmit={onSubmit} data-testid="user-create-form">
        <label className="field">
          <span>Username</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} required autoComplete="off" data-testid="user-create-username" />
        </label>
        <label className="field">
          <span>Display name</span>
          <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} autoComplete="off" data-testid="user-create-displayname" />
        </label>
        <label className="field">
          <span>Password</span>
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" placeholder="empty: generate one" data-testid="user-create-password" />
        </label>
        <label className="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.target.value as Role)} data-testid="user-create-role">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn btn-primary" disabled={create.isPending} data-testid="user-create-submit">
          {create.isPending ? "Creating…" : "Create user"}
        </button>
      </form>
      <FormError error={create.error} />
      {create.data ? (
        <div className="notice notice-success" style={{ marginTop: 12, marginBottom: 0 }} data-testid="user-created">
          Created <strong>{create.data.username}</strong> ({create.data.role}).
          {create.data.temporaryPassword ? (
            <>
              {" "}
              Temporary password (shown once): <code data-testid="user-temp-password">{create.data.temporaryPassword}</code>
            </>
          ) : null}{" "}
          New users start with a zero quota (teachers: a zero teaching quota too): set one below.
        </div>
      ) : null}
    </section>
  );
}

/** Edits a user's personal quota, or (`teaching`) the teaching quota their classes' budgets draw on. */
function QuotaEditor({ user, onDone, teaching = false }: { user: User; onDone: () => void; teaching?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const current = teaching ? user.teachingQuota : user.quota;
  const [values, setValues] = useState({
    vms: String(current.limits.vms),
    vcpus: String(current.limits.vcpus),
    memoryMiB: String(current.limits.memoryMiB),
    diskGiB: String(current.limits.diskGiB),
  });
  const [localError, setLocalError] = useState<string | null>(null);
  const onSuccess = async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.user.list.queryKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.auth.pathKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.class.teachingQuota.queryKey() });
    onDone();
  };
  const savePersonal = useMutation(trpc.user.setQuota.mutationOptions({ onSuccess }));
  const saveTeaching = useMutation(trpc.user.setTeachingQuota.mutationOptions({ onSuccess }));
  const save = teaching ? saveTeaching : savePersonal;
  const prefix = teaching ? "teaching-quota" : "quota";
  const fields = [
    { key: "vms", label: "VMs", testId: `${prefix}-vms` },
    { key: "vcpus", label: "vCPUs", testId: `${prefix}-vcpus` },
    { key: "memoryMiB", label: "Memory (MiB)", testId: `${prefix}-memory` },
    { key: "diskGiB", label: "Disk (GiB)", testId: `${prefix}-disk` },
  ] as const;

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    const parsed = Object.fromEntries(fields.map((f) => [f.key, Number(values[f.key])])) as Record<(typeof fields)[number]["key"], number>;
    const bad = fields.find((f) => values[f.key].trim() === "" || !Number.isInteger(parsed[f.key]) || parsed[f.key] < 0);
    if (bad) return setLocalError(`${bad.label} must be a whole number ≥ 0`);
    save.mutate({ id: user.id, ...parsed });
  }

  return (
    <form className="quota-form" onSubmit={onSubmit} noValidate data-testid={`${prefix}-form`} aria-label={`${teaching ? "Teaching quota" : "Quota"} for ${user.username}`}>
      {teaching ? <p className="muted" style={{ flexBasis: "100%", margin: 0 }}>All of {user.username}&apos;s class budgets together stay within this grant.</p> : null}
      {fields.map((f) => (
        <label className="field" key={f.key}>
          <span>{f.label}</span>
          <input type="number" min={0} step={1} value={values[f.key]} onChange={(e) => setValues((v) => ({ ...v, [f.key]: e.target.value }))} data-testid={f.testId} />
        </label>
      ))}
      <button type="submit" className="btn btn-primary" disabled={save.isPending} data-testid={`${prefix}-save`}>
        {save.isPending ? "Saving…" : teaching ? "Save teaching quota" : "Save quota"}
      </button>
      <button type="button" className="btn" onClick={onDone} data-testid={`${prefix}-cancel`}>
        Cancel
      </button>
      <div style={{ flexBasis: "100%" }}>
        <FormError error={localError ?? save.error} />
      </div>
    </form>
  );
}

function UserRow({ user, isSelf }: { user: User; isSelf: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<"quota" | "teaching" | null>(null);
  const update = useMutation(
    trpc.user.update.mutationOptions({
      onSettled: () => void queryClient.invalidateQueries({ queryKey: trpc.user.list.queryKey() }),
    }),
  );
  return (
    <Fragment>
      <tr className={user.disabled ? "row-disabled" : undefined} data-testid="user-row" data-username={user.username} data-role={user.role} data-disabled={user.disabled}>
        <td>
          <strong>{user.username}</strong>
          {isSelf ? <span className="muted"> (you)</span> : null}
          {user.displayName ? <div className="muted">{user.displayName}</div> : null}
        </td>
        <td>
          <select
            aria-label={`Role of ${user.username}`}
            value={user.role}
            disabled={update.isPending}
            onChange={(e) => update.mutate({ id: user.id, role: e.target.value as Role })}
            data-testid={`user-role-${user.username}`}
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </td>
        <td>
          <span className={user.disabled ? "pill pill-red" : "pill pill-green"} data-testid={`user-status-${user.username}`}>
            {user.disabled ? "disabled" : "active"}
          </span>
        </td>
        <td className="cell-quota">
          <QuotaBars quota={user.quota} compact />
        </td>
        <td className="cell-quota" data-testid={`teaching-quota-${user.username}`}>
          {user.role === "teacher" ? (
            <QuotaBars quota={user.teachingQuota} compact />
          ) : user.role === "admin" ? (
            <span className="muted" title="Admins are not bounded by a teaching quota; their classes' budgets are still counted">
              unbounded ({user.teachingQuota.used.vms} VMs in budgets)
            </span>
          ) : (
            <span className="muted">—</span>
          )}
          {user.mustChangePassword ? <div className="muted" data-testid={`user-must-change-${user.username}`}>temporary password</div> : null}
        </td>
        <td className="nowrap muted">{formatDateTime(user.createdAt)}</td>
        <td>
          <div className="row-actions">
            <button type="button" className="btn btn-sm" onClick={() => setEditing((v) => (v === "quota" ? null : "quota"))} data-testid={`quota-edit-${user.username}`} aria-expanded={editing === "quota"}>
              Edit quota
            </button>
            {user.role === "teacher" ? (
              <button type="button" className="btn btn-sm" onClick={() => setEditing((v) => (v === "teaching" ? null : "teaching"))} data-testid={`teaching-quota-edit-${user.username}`} aria-expanded={editing === "teaching"}>
                Edit teaching quota
              </button>
            ) : null}
            <button
              type="button"
              className={user.disabled ? "btn btn-sm" : "btn btn-sm btn-danger-outline"}
              disabled={update.isPending}
              onClick={() => update.mutate({ id: user.id, disabled: !user.disabled })}
              data-testid={`user-toggle-${user.username}`}
            >
              {user.disabled ? "Enable" : "Disable"}
            </button>
          </div>
          <FormError error={update.error} testId={`user-error-${user.username}`} />
        </td>
      </tr>
      {editing ? (
        <tr className="row-edit">
          <td colSpan={7}>
            <QuotaEditor key={editing} user={user} teaching={editing === "teaching"} onDone={() => setEditing(null)} />
          </td>
        </tr>
      ) : null}
    </Fragment>
  );
}

export function UsersAdmin() {
  const trpc = useTRPC();
  const users = useQuery(trpc.user.list.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions());
  return (
    <>
      <div className="page-head">
        <h1>Users</h1>
      </div>
      <CreateUserForm />
      <section className="card" aria-label="Users">
        {users.isPending ? (
          <Loading what="users" />
        ) : users.error ? (
          <FormError error={users.error} />
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="users-table">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Role</th>
                  <th>Status</th>
                  <th>Quota (used / limit)</th>
                  <th title="What a teacher's class budgets may take in all, granted here">Teaching quota</th>
                  <th>Created</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {users.data.map((u) => (
                  <UserRow key={u.id} user={u} isSelf={u.id === me.data?.id} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
