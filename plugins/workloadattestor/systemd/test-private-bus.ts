import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** A dbus-daemon started by {@link startPrivateBus}. */
export interface PrivateBus {
  /** D-Bus address clients connect to, `unix:path=<folder>/bus.sock`. */
  readonly address: string;
  readonly socketPath: string;
  readonly pid: number;
  /** Sends SIGTERM to the daemon and waits until it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts a private dbus-daemon that lets every client own any name and call anything on `<folder>/bus.sock`, for
 * tests that need a real bus without touching the host's. Calling it again with the same
 * folder after `stop()` brings a bus back at the same address.
 */
export async function startPrivateBus(folder: string): Promise<PrivateBus> {
  const socketPath = join(folder, "bus.sock");
  const address = `unix:path=${socketPath}`;
  rmSync(socketPath, { force: true });

  const configPath = join(folder, "bus.conf");
  writeFileSync(configPath, busConfig(address));

  const { stdout } = await execFileAsync("dbus-daemon", [`--config-file=${configPath}`, "--fork", "--print-pid", "--nosyslog"]);
  const pid = Number(stdout.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new Error(`dbus-daemon printed ${JSON.stringify(stdout)} instead of its pid`);
  }

  return {
    address,
    socketPath,
    pid,
    stop: () => stopProcess(pid),
  };
}

/**
 * Session-bus policy without service folders, so a call to a missing name fails at once
 * instead of making the daemon start a program (the host's user systemd) to provide it.
 */
function busConfig(address: string): string {
  return [
    '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"',
    ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">',
    "<busconfig>",
    "  <type>session</type>",
    `  <listen>${address}</listen>`,
    "  <auth>EXTERNAL</auth>",
    '  <policy context="default">',
    '    <allow send_destination="*" eavesdrop="true"/>',
    '    <allow eavesdrop="true"/>',
    '    <allow own="*"/>',
    "  </policy>",
    "</busconfig>",
    "",
  ].join("\n");
}

async function stopProcess(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }

  // The daemon forked away from this process, so there is no exit event to wait for.
  while (isRunning(pid)) {
    await new Promise((wake) => setTimeout(wake, 10));
  }
}

/** False once the process is gone or a zombie (its parent, init, may reap it later). */
function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}
