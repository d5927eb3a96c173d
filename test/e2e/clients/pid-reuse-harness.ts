/**
 * Runs inside a fresh PID namespace (`unshare --pid --fork --mount-proc`), so that this
 * test controls which pid the next process gets through /proc/sys/kernel/ns_last_pid.
 *
 * Steps:
 * 1. Start tessera-agent inside the namespace.
 * 2. Run connect-and-hand-off as uid 65534, which has no registration entry. It connects,
 *    leaves its socket with a detached child and exits.
 * 3. Start a victim process under VICTIM_UID, which has an entry, with the attacker's old pid.
 * 4. Let the child send FetchX509SVID.
 *
 * The agent must notice that the connected process is gone instead of attesting the
 * victim. Prints one JSON line with what happened.
 *
 * Usage: node pid-reuse-harness.js CONFIG_JSON
 * CONFIG_JSON: { folder, trustDomain, serverPort, trustBundlePath, joinToken, victimUid }
 */
import { spawn, execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startAgent } from "../../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);
const clientsFolder = dirname(fileURLToPath(import.meta.url));

interface HarnessConfig {
  folder: string;
  trustDomain: string;
  serverPort: number;
  trustBundlePath: string;
  joinToken: string;
  victimUid: number;
}

const config = JSON.parse(process.argv[2] ?? "{}") as HarnessConfig;

function asUser(uid: number, command: string[]): string[] {
  return ["--reuid", String(uid), "--regid", String(uid), "--clear-groups", ...command];
}

/** Starts `sleep` as `uid` with exactly `pid`, retrying when another process took it first. */
async function startWithPid(pid: number, uid: number): Promise<ChildProcess | undefined> {
  for (let attempt = 0; attempt < 50; attempt++) {
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
    const victim = spawn("setpriv", asUser(uid, ["sleep", "120"]), { stdio: "ignore" });
    if (victim.pid === pid) return victim;
    victim.kill("SIGKILL");
    await new Promise((wake) => setTimeout(wake, 10));
  }
  return undefined;
}

async function main(): Promise<void> {
  const agent = await startAgent({
    folder: config.folder,
    trustDomain: config.trustDomain,
    serverPort: config.serverPort,
    trustBundlePath: config.trustBundlePath,
    joinToken: config.joinToken,
  });
  chmodSync(dirname(agent.socketPath), 0o755);

  const goFile = join(config.folder, "go");
  const resultFile = join(config.folder, "result.json");
  let victim: ChildProcess | undefined;

  try {
    const { stdout } = await execFileAsync("setpriv", asUser(65534, [process.execPath, join(clientsFolder, "connect-and-hand-off.js"), agent.socketPath, goFile, resultFile]));
    const attackerPid = Number(stdout.trim());

    victim = await startWithPid(attackerPid, config.victimUid);
    writeFileSync(goFile, "");

    const deadline = Date.now() + 30_000;
    while (!existsSync(resultFile) && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 50));
    }
    const result = existsSync(resultFile) ? (JSON.parse(readFileSync(resultFile, "utf8")) as unknown) : undefined;

    // A synchronous write: this process is PID 1 of its namespace, and an asynchronous
    // write to a pipe may be lost when it exits.
    writeSync(1, JSON.stringify({ attackerPid, victimPid: victim?.pid ?? null, result: result ?? null }) + "\n");
  } finally {
    victim?.kill("SIGKILL");
    await agent.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
