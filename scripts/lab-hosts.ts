/**
 * `npm run lab:hosts -- up N [--shared-pool] | status [--json] | down | kill NAME | kill-daemon NAME`:
 * extra libvirt daemons on this machine standing in for remote hosts (see scripts/lab/lab-hosts.ts),
 * registered in the portal's database (the one DATABASE_URL names, else the data directory's embedded
 * cluster). `--shared-pool` puts their VM disks in one pool on the lab's shared storage.
 */
import { execFileSync } from "node:child_process";
import { config } from "../server/config.ts";
import { db, disconnectDb } from "../server/db/client.ts";
import { labDown, labKill, labKillDaemon, labPaths, labStatus, labUp } from "./lab/lab-hosts.ts";
import { deregisterLabHosts, labSharedPoolPath, registerLabHosts } from "./lab/register.ts";

const usage = "usage: lab:hosts -- up N [--shared-pool] | status [--json] | down | kill NAME | kill-daemon NAME";

function ensureDatabaseUrl(): void {
  if (process.env.DATABASE_URL) return;
  process.env.DATABASE_URL = execFileSync(process.execPath, ["--import", "tsx", "scripts/db.ts", "start"], { encoding: "utf8", timeout: 120_000 }).trim();
}

async function main(): Promise<void> {
  const [command, arg, ...flags] = process.argv.slice(2);
  if (process.getuid?.() !== 0) throw new Error("lab hosts need root (network namespaces, libvirtd)");
  const cfg = config();
  const paths = labPaths(cfg.dataDir, cfg.hostCredentialsDir);
  switch (command) {
    case "up": {
      const count = Number(arg ?? "1");
      const unknown = flags.filter((f) => f !== "--shared-pool");
      if (!Number.isInteger(count) || count < 1 || unknown.length > 0) throw new Error(usage);
      execFileSync("bash", ["scripts/host-setup.sh"], { stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 });
      const hosts = await labUp(paths, count);
      ensureDatabaseUrl();
      const sharedPoolPath = flags.includes("--shared-pool") ? labSharedPoolPath(paths) : undefined;
      const rows = await registerLabHosts(db(), hosts, cfg.hostCredentialsDir, { sharedPoolPath });
      for (const h of hosts) console.log(`${h.name}\t${h.address}\tup\tregistered as ${rows.find((r) => r.name === h.name)?.id}\t${h.uri}`);
      console.log(`shared storage: ${paths.shared}${sharedPoolPath ? ` (VM disks in the shared pool ${sharedPoolPath})` : ""}`);
      break;
    }
    case "status": {
      const status = labStatus(paths);
      if (arg === "--json") console.log(JSON.stringify(status));
      else if (status.length === 0) console.log("no lab hosts");
      else {
        for (const s of status) {
          const state = s.daemonPid ? "up" : s.processes.length > 0 ? "daemon down, guests running" : "down";
          const guests = s.processes.filter((p) => p.command.startsWith("qemu")).length;
          console.log(`${s.name}\t${s.address}\t${state}\tlibvirtd ${s.daemonPid ?? "-"}\t${guests} guest process(es)\t${s.uri}`);
        }
      }
      break;
    }
    case "down": {
      const hosts = labDown(paths);
      if (hosts.length > 0) {
        ensureDatabaseUrl();
        const { removed, kept } = await deregisterLabHosts(db(), hosts);
        console.log(`removed ${hosts.map((h) => h.name).join(", ")}; unregistered: ${removed.join(", ") || "none"}`);
        if (kept.length > 0) console.log(`still referenced by VM or image rows, left disabled: ${kept.join(", ")}`);
      } else console.log("no lab hosts");
      break;
    }
    case "kill": {
      if (!arg) throw new Error(usage);
      console.log(`${arg}: killed ${labKill(paths, arg)} process(es)`);
      break;
    }
    case "kill-daemon": {
      if (!arg) throw new Error(usage);
      const pid = labKillDaemon(paths, arg);
      console.log(pid === null ? `${arg}: libvirtd was not running` : `${arg}: killed libvirtd (pid ${pid}); its guests keep running`);
      break;
    }
    default:
      throw new Error(usage);
  }
}

try {
  await main();
} catch (err) {
  console.error(`lab:hosts: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await disconnectDb();
}
