"use client";

import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useTRPC, type RouterOutputs } from "../../_lib/trpc";
import { FormError } from "../ui";

type Created = RouterOutputs["class"]["addStudents"]["created"];

function csvCell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The new accounts as a CSV file, built in the browser: the passwords never leave it again. */
function downloadCsv(className: string, rows: Created) {
  const lines = ["username,name,email,temporary_password", ...rows.map((r) => [r.username, r.displayName, r.email, r.temporaryPassword].map(csvCell).join(","))];
  const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `${className.replace(/[^\w.-]+/g, "-").toLowerCase() || "class"}-accounts.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
}

/**
 * Adds students: existing accounts by username, and a pasted roster (username,name,email per line)
 * whose unknown usernames become new accounts. Their temporary passwords are shown here once.
 */
export function RosterForm({ classId, className, onAdded }: { classId: string; className: string; onAdded: () => void }) {
  const trpc = useTRPC();
  const [csv, setCsv] = useState("");
  const [usernames, setUsernames] = useState("");
  const [created, setCreated] = useState<Created | null>(null);
  const [added, setAdded] = useState<string[] | null>(null);
  const add = useMutation(
    trpc.class.addStudents.mutationOptions({
      onSuccess: (res) => {
        setCreated(res.created.length ? res.created : null);
        setAdded(res.added);
        setCsv("");
        setUsernames("");
        onAdded();
      },
    }),
  );

  function submit(e: FormEvent) {
    e.preventDefault();
    const names = usernames.split(/[\s,;]+/).map((u) => u.trim()).filter(Boolean);
    add.mutate({ id: classId, csv: csv.trim() ? csv : undefined, usernames: names.length ? names : undefined });
  }

  return (
    <div className="roster-form">
      <form className="form" onSubmit={submit} data-testid="roster-form">
        <label className="field">
          <span>Paste a roster (one student per line: username, name, email)</span>
          <textarea rows={4} value={csv} onChange={(e) => setCsv(e.target.value)} placeholder={"s1,Ada Lovelace,ada@example.edu\ns2,Alan Turing"} className="mono-input" data-testid="roster-csv" />
        </label>
        <p className="hint">Usernames that do not exist yet become student accounts with a temporary password.</p>
        <div className="inline-form">
          <label className="field grow">
            <span>…and/or existing accounts</span>
            <input value={usernames} onChange={(e) => setUsernames(e.target.value)} placeholder="alice, bob" data-testid="roster-usernames" />
          </label>
          <button type="submit" className="btn btn-primary" disabled={add.isPending || (!csv.trim() && !usernames.trim())} data-testid="roster-submit">
            Add students
          </button>
        </div>
        <FormError error={add.error} testId="roster-error" />
      </form>
      {added && !created ? (
        <p className="notice notice-success" data-testid="roster-added">
          Added {added.join(", ")}.
        </p>
      ) : null}
      {created ? (
        <div className="notice notice-warn roster-created" data-testid="roster-created" role="status">
          <p>
            <strong>{created.length} new account{created.length === 1 ? "" : "s"}.</strong> Hand these temporary passwords out now: they are shown only this once.
          </p>
          <table className="table table-compact">
            <thead>
              <tr>
                <th>Username</th>
                <th>Name</th>
                <th>Temporary password</th>
              </tr>
            </thead>
            <tbody>
              {created.map((c) => (
                <tr key={c.username} data-testid="roster-created-row" data-username={c.username}>
                  <td>{c.username}</td>
                  <td>{c.displayName || "—"}</td>
                  <td>
                    <code className="mono" data-testid="roster-temp-password">
                      {c.temporaryPassword}
                    </code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="form-actions">
            <button type="button" className="btn" onClick={() => downloadCsv(className, created)} data-testid="roster-download">
              Download CSV
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => setCreated(null)} data-testid="roster-dismiss">
              I have saved them
            </button>
          </div>
        </div>
      ) : null}
    </div>
  );
}
