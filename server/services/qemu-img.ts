/**
 * `qemu-img info` on an uploaded file, as a bounded child process: a crafted image must not be able to
 * hang the portal or eat its memory while being described. The format is probed, never given, so a
 * qcow2 sent as "raw" is caught; qemu-img info does not open backing files (only --backing-chain does).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";

/** Address space and CPU time qemu-img may use (OpenStack bounds it the same way). */
const ADDRESS_SPACE_BYTES = 1024 ** 3;
const CPU_SECONDS = 30;
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** Runs `qemu-img info --output=json FILE` under prlimit, killed after `timeoutMs`; resolves with the parsed JSON. */
export function qemuImgInfo(file: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(
      "prlimit",
      [`--as=${ADDRESS_SPACE_BYTES}`, `--cpu=${CPU_SECONDS}`, "qemu-img", "info", "--output=json", file],
      { timeout: timeoutMs, maxBuffer: MAX_OUTPUT_BYTES, killSignal: "SIGKILL", env: { ...process.env, LC_ALL: "C" } },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`qemu-img info failed: ${err.killed ? "timed out" : String(stderr).trim().slice(0, 500) || err.message}`));
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error("qemu-img info printed no JSON"));
        }
      },
    );
  });
}

/** Whether the ISO 9660 signature "CD001" sits at byte 32769 (the first volume descriptor). */
export async function hasIsoMagic(file: string): Promise<boolean> {
  const fd = await fs.promises.open(file, "r");
  try {
    const buf = Buffer.alloc(5);
    const { bytesRead } = await fd.read(buf, 0, 5, 32769);
    return bytesRead === 5 && buf.toString("latin1") === "CD001";
  } finally {
    await fd.close();
  }
}
