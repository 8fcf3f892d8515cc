import { describe, expect, it } from "vitest";
import { alertMail, oneLine, type AlertFacts } from "../../../server/domain/alerts.ts";

const opts = { alertsUrl: "https://vmdesk.example.org/admin/alerts", domain: "example.org" };
const cpu: AlertFacts = {
  id: "7f1c2d3e-0000-4000-8000-000000000001",
  kind: "host.cpu",
  subject: "host lab1",
  message: "CPU of host lab1 above 80 % for 60 s (now 93 %)",
  value: 93.4,
  threshold: 80,
  firedAt: new Date("2026-12-06T12:00:00Z"),
  resolvedAt: null,
};

describe("alert e-mail", () => {
  it("says what fired, with its facts and the Alerts page", () => {
    const mail = alertMail(cpu, "fired", opts);
    expect(mail.subject).toBe("[vmdesk] FIRING: CPU of host lab1 above 80 %");
    expect(mail.text.split("\n")).toEqual([
      "FIRING: CPU of host lab1 above 80 %",
      "",
      "CPU of host lab1 above 80 % for 60 s (now 93 %)",
      "",
      "Kind:      host.cpu",
      "Subject:   host lab1",
      "Value:     93.4 %",
      "Threshold: 80 %",
      "Fired:     2026-12-06T12:00:00.000Z",
      `Alert:     ${cpu.id}`,
      "",
      "Alerts page: https://vmdesk.example.org/admin/alerts",
      "",
    ]);
    expect(mail.messageId).toBe(`<alert-${cpu.id}.fired@example.org>`);
    expect(mail.inReplyTo).toBeNull();
  });

  it("a resolve keeps the subject's words, adds when it resolved and answers the fired message", () => {
    const mail = alertMail({ ...cpu, resolvedAt: new Date("2026-12-06T12:05:00Z") }, "resolved", opts);
    expect(mail.subject).toBe("[vmdesk] RESOLVED: CPU of host lab1 above 80 %");
    expect(mail.text).toContain("\nResolved:  2026-12-06T12:05:00.000Z\n");
    expect(mail.messageId).toBe(`<alert-${cpu.id}.resolved@example.org>`);
    expect(mail.inReplyTo).toBe(`<alert-${cpu.id}.fired@example.org>`);
  });

  it("names host-down, stuck-operation and other alerts without a value", () => {
    const down = alertMail({ ...cpu, kind: "host.down", message: "host lab1 is down: connection refused", value: null, threshold: null }, "fired", opts);
    expect(down.subject).toBe("[vmdesk] FIRING: host lab1 is down");
    expect(down.text).not.toMatch(/Value:|Threshold:/);
    const stuck = alertMail({ ...cpu, kind: "operation.stuck", subject: "operation 42", message: "operation vm.start (42) queued for over 10 minutes", value: null, threshold: null }, "fired", opts);
    expect(stuck.subject).toBe("[vmdesk] FIRING: operation 42 stuck in the queue");
    const other = alertMail({ ...cpu, kind: "vm.ha_failed", subject: "VM web", message: "VM web: HA restart failed: no host", value: null, threshold: null }, "fired", opts);
    expect(other.subject).toBe("[vmdesk] FIRING: VM web: HA restart failed: no host");
  });

  it("CR, LF and other control characters in host names or errors cannot start a header", () => {
    const evil = "lab1\r\nBcc: intruder@example.net\r\n\r\nbody";
    const mail = alertMail({ ...cpu, subject: `host ${evil}`, message: `host ${evil} is down: x\u2028y\u0085z`, kind: "host.down", value: null, threshold: null }, "fired", opts);
    expect(mail.subject).toBe("[vmdesk] FIRING: host lab1 Bcc: intruder@example.net body is down");
    expect(mail.subject).not.toMatch(/[\r\n\u0085\u2028]/);
    expect(mail.text.split("\n").find((l) => l.startsWith("Subject:"))).toBe("Subject:   host lab1 Bcc: intruder@example.net body");
    expect(mail.text).not.toContain("\r");
    expect(oneLine("a\r\n\tb\u0000c\u2029d", 100)).toBe("a b c d");
  });

  it("keeps the subject to 200 characters", () => {
    const mail = alertMail({ ...cpu, kind: "host.down", subject: `host ${"x".repeat(500)}`, value: null, threshold: null }, "fired", opts);
    expect(mail.subject).toHaveLength(200);
    expect(mail.subject.endsWith("…")).toBe(true);
  });
});
