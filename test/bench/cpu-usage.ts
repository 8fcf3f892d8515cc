/**
 * Where a benchmark's CPU went, from /proc: CPU-seconds spent between two readings by the processes
 * that share this machine's cores while guests are provisioned: the portal (when given), libvirtd
 * (with the programs it ran and waited for: the nwfilter's ebtables/iptables, tc, qemu-img), every
 * QEMU, PostgreSQL and virtlogd. On a machine whose cores are saturated, these say which part a
 * faster run has to take work from.
 */
import fs from "node:fs";

const TICKS_PER_S = 100; // USER_HZ on Linux

type Group = "portal" | "libvirtd" | "qemu" | "postgres" | "virtlogd";

/** Ticks by process id: own user + system, and those of waited-for children (fields 14–17 of stat). */
type Reading = Map<number, { group: Group; ticks: number }>;

function groupOf(comm: string): Group | null {
  if (comm === "libvirtd") return "libvirtd";
  if (comm.startsWith("qemu-system")) return "qemu";
  if (comm === "postgres") return "postgres";
  if (comm === "virtlogd") return "virtlogd";
  return null;
}

export function readCpu(portalPid?: number): Reading {
  const reading: Reading = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    } catch {
      continue; // exited meanwhile
    }
    // comm may hold spaces and parentheses: the fields after it start at the last ")".
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const group = pid === portalPid ? "portal" : groupOf(comm);
    if (!group) continue;
    const fields = stat.slice(close + 2).split(" ");
    // fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14–17.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    reading.set(pid, { group, ticks });
  }
  return reading;
}

/**
 * CPU-seconds by group between two readings. A process that started in between counts from zero; one
 * that exited in between is lost (its parent may have collected it: libvirtd's children are).
 */
export type CpuSeconds = Record<Group, number>;

export function cpuSecondsBetween(before: Reading, after: Reading): CpuSeconds {
  const out: CpuSeconds = { portal: 0, libvirtd: 0, qemu: 0, postgres: 0, virtlogd: 0 };
  for (const [pid, { group, ticks }] of after) out[group] += ticks - (before.get(pid)?.ticks ?? 0);
  for (const group of Object.keys(out) as Group[]) out[group] = +(out[group] / TICKS_PER_S).toFixed(1);
  return out;
}
