/**
 * Classroom schedule rules (pure, clock passed in): which class sessions need their VMs started
 * (N minutes before the start) or shut down (at the end), when a class's VMs expire, and when
 * students must be warned. The scheduler job applies these exactly once per session (it records
 * startedAt / endedAt), so a missed tick is caught up on the next one.
 */
export interface ScheduledSession {
  id: string;
  classId: string;
  startsAt: Date;
  endsAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
}

export interface SessionAction {
  sessionId: string;
  classId: string;
  action: "start" | "stop";
}

export function dueSessionActions(sessions: ScheduledSession[], now: Date, preStartMinutes: (classId: string) => number): SessionAction[] {
  const due: SessionAction[] = [];
  for (const s of sessions) {
    const t = now.getTime();
    if (!s.endedAt && t >= s.endsAt.getTime()) {
      due.push({ sessionId: s.id, classId: s.classId, action: "stop" });
    } else if (!s.startedAt && t >= s.startsAt.getTime() - preStartMinutes(s.classId) * 60_000 && t < s.endsAt.getTime()) {
      due.push({ sessionId: s.id, classId: s.classId, action: "start" });
    }
  }
  return due;
}

export function isExpired(expiresAt: Date | null, now: Date): boolean {
  return expiresAt !== null && now.getTime() >= expiresAt.getTime();
}

/** The warning students see before their class's VMs are deleted, or null when not yet due. */
export function expiryWarning(expiresAt: Date | null, now: Date, warnDays: number): string | null {
  if (!expiresAt) return null;
  const left = expiresAt.getTime() - now.getTime();
  if (left > warnDays * 86_400_000) return null;
  if (left <= 0) return "This class has expired: its VMs are being deleted.";
  const hours = Math.ceil(left / 3_600_000);
  const when = hours >= 48 ? `${Math.ceil(hours / 24)} days` : `${hours} hours`;
  return `This class's VMs will be deleted in ${when} (${expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC). Save your work elsewhere.`;
}

export function freezeDue(freezeAt: Date | null, frozenAt: Date | null, now: Date): boolean {
  return freezeAt !== null && frozenAt === null && now.getTime() >= freezeAt.getTime();
}
