"use client";

import "./class.css";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { formatDateTime } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { FormError, Loading } from "../ui";
import { BudgetBars } from "./budget-bars";
import { ClassForm } from "./class-form";

/** The classes a teacher teaches (an admin: all), and the form for a new one. */
export function ClassesList() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());
  const canTeach = me.data?.role === "teacher" || me.data?.role === "admin";
  const list = useQuery({ ...trpc.class.list.queryOptions(), enabled: canTeach });
  const [creating, setCreating] = useState(false);
  const create = useMutation(
    trpc.class.create.mutationOptions({
      onSuccess: async ({ id }) => {
        await queryClient.invalidateQueries({ queryKey: trpc.class.list.queryKey() });
        router.push(`/classes/${id}`);
      },
    }),
  );

  if (me.isPending) return <Loading what="your account" />;
  if (!canTeach)
    return (
      <div className="notice notice-warn" role="alert" data-testid="not-allowed">
        <strong>Not allowed.</strong> Classes are for teachers. Students join a class with its join code on <Link href="/">My VMs</Link>.
      </div>
    );

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Classes</h1>
        </div>
        <div className="page-head-actions">
          <button type="button" className="btn btn-primary" onClick={() => setCreating((c) => !c)} aria-expanded={creating} data-testid="class-new">
            + New class
          </button>
        </div>
      </div>

      {creating ? (
        <section className="card" aria-labelledby="new-class-title">
          <h2 id="new-class-title" className="card-title">
            New class
          </h2>
          <ClassForm kind="create" pending={create.isPending} error={create.error} onSubmit={(f) => create.mutate({ ...f, imageId: f.imageId ?? "" })} onCancel={() => setCreating(false)} />
        </section>
      ) : null}

      {list.isPending ? (
        <Loading what="classes" />
      ) : list.error ? (
        <FormError error={list.error} testId="class-list-error" />
      ) : list.data.length === 0 ? (
        <div className="empty" data-testid="class-list-empty">
          <p>No classes yet.</p>
          {!creating ? (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              Create your first class
            </button>
          ) : null}
        </div>
      ) : (
        <div className="card table-wrap">
          <table className="table" data-testid="class-list">
            <thead>
              <tr>
                <th>Class</th>
                <th>Image</th>
                <th className="num">Students</th>
                <th>Per VM</th>
                <th>Budget used</th>
                <th>Term</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((c) => (
                <tr key={c.id} data-testid="class-row" data-class-id={c.id}>
                  <td>
                    <Link href={`/classes/${c.id}`} className="strong" data-testid="class-link">
                      {c.name}
                    </Link>
                  </td>
                  <td>{c.image.name}</td>
                  <td className="num">{c.studentCount}</td>
                  <td className="nowrap">
                    {c.vcpus} vCPU · {c.memoryMiB} MiB · {c.diskGiB} GiB
                  </td>
                  <td className="cell-quota">
                    <BudgetBars budget={c.budget} compact />
                  </td>
                  <td className="nowrap muted">{c.termStart || c.termEnd ? `${c.termStart ? formatDateTime(c.termStart).slice(0, 11) : "…"} – ${c.termEnd ? formatDateTime(c.termEnd).slice(0, 11) : "…"}` : "—"}</td>
                  <td>
                    {c.expiredAt ? <span className="badge badge-grey">expired</span> : c.frozenAt ? <span className="badge badge-amber">frozen</span> : <span className="badge badge-green">active</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
