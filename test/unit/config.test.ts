import { afterEach, describe, expect, it } from "vitest";
import { config, parseSmtpUrl, resetConfigForTests } from "../../server/config.ts";

const MAIL_VARS = ["VMDESK_SMTP_URL", "VMDESK_ALERT_EMAIL_TO", "VMDESK_ALERT_EMAIL_FROM"] as const;
const saved = Object.fromEntries(MAIL_VARS.map((k) => [k, process.env[k]]));

function withMailEnv(env: Partial<Record<(typeof MAIL_VARS)[number], string>>) {
  for (const k of MAIL_VARS) {
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  resetConfigForTests();
  return config();
}

afterEach(() => {
  for (const k of MAIL_VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  resetConfigForTests();
});

describe("alert e-mail configuration", () => {
  it("reads smtp and smtps URLs, with percent-encoded credentials and default ports", () => {
    expect(parseSmtpUrl("smtp://mail.example.org")).toEqual({ host: "mail.example.org", port: 587, secure: false, auth: null });
    expect(parseSmtpUrl("smtps://alerts%40example.org:p%3Ass@mail.example.org:2465/")).toEqual({ host: "mail.example.org", port: 2465, secure: true, auth: { user: "alerts@example.org", pass: "p:ss" } });
    expect(parseSmtpUrl("smtps://[::1]")).toMatchObject({ host: "::1", port: 465 });
  });

  it("refuses other schemes, paths, options, half credentials and garbage", () => {
    for (const bad of ["http://mail.example.org", "smtp://mail.example.org/x", "smtp://mail.example.org?tls.rejectUnauthorized=false", "smtp://user@mail.example.org", "smtp://:pw@mail.example.org", "smtp://", "mail.example.org:25"]) {
      expect(parseSmtpUrl(bad), bad).toBeNull();
    }
  });

  it("is off unless both the server and the recipients are set; one without the other is an error", () => {
    expect(withMailEnv({}).alertEmail).toBeNull();
    expect(() => withMailEnv({ VMDESK_SMTP_URL: "smtp://127.0.0.1:2525" })).toThrow(/VMDESK_ALERT_EMAIL_TO/);
    expect(() => withMailEnv({ VMDESK_ALERT_EMAIL_TO: "ops@example.org" })).toThrow(/VMDESK_ALERT_EMAIL_TO/);
    expect(() => withMailEnv({ VMDESK_SMTP_URL: "ftp://x", VMDESK_ALERT_EMAIL_TO: "ops@example.org" })).toThrow(/smtp:\/\//);
  });

  it("splits and validates the recipients, at most 20, and defaults the sender to vmdesk@<hostname>", () => {
    const c = withMailEnv({ VMDESK_SMTP_URL: "smtp://127.0.0.1:2525", VMDESK_ALERT_EMAIL_TO: " ops@example.org, oncall@example.org ," });
    expect(c.alertEmail).toMatchObject({ server: { host: "127.0.0.1", port: 2525, secure: false, auth: null }, to: ["ops@example.org", "oncall@example.org"] });
    expect(c.alertEmail!.from).toMatch(/^vmdesk@./);
    expect(withMailEnv({ VMDESK_SMTP_URL: "smtp://h", VMDESK_ALERT_EMAIL_TO: "a@example.org", VMDESK_ALERT_EMAIL_FROM: "portal@example.org" }).alertEmail!.from).toBe("portal@example.org");
    for (const to of ["not-an-address", "ops@example.org\r\nBcc: x@example.net", ",", Array.from({ length: 21 }, (_, i) => `u${i}@example.org`).join(",")]) {
      expect(() => withMailEnv({ VMDESK_SMTP_URL: "smtp://h", VMDESK_ALERT_EMAIL_TO: to }), to).toThrow();
    }
    expect(() => withMailEnv({ VMDESK_SMTP_URL: "smtp://h", VMDESK_ALERT_EMAIL_TO: "a@example.org", VMDESK_ALERT_EMAIL_FROM: "x\r\nBcc: y@example.net" })).toThrow();
  });
});
