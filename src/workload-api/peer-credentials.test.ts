import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { peerHasExited, readPeerCredentials, readProcessStartTime } from "./peer-credentials.js";
import type { PeerCredentials } from "./peer-credentials.js";

const CLIENT_SCRIPT = fileURLToPath(new URL("testdata/credentials-client.mjs", import.meta.url));
const PID_REUSE_PROBE = fileURLToPath(new URL("testdata/pid-reuse-probe.mjs", import.meta.url));
const isRoot = process.getuid?.() === 0;

/** The identity a test client reports for itself over its connection. */
interface ClientIdentity {
  pid: number;
  uid: number;
  gid: number;
}

/** A connection as the test server saw it: the kernel's view and the client's own. */
interface AcceptedConnection {
  socket: Socket;
  credentials: PeerCredentials;
  claimed: Promise<ClientIdentity>;
}

let folder: string;
let socketPath: string;
let server: Server;
let accepted: AcceptedConnection[];
let acceptedWaiters: Array<() => void>;
let children: ChildProcess[];

beforeEach(async () => {
  folder = mkdtempSync(join(tmpdir(), "peer-credentials-"));
  // Clients running as other users must reach the socket inside the folder.
  chmodSync(folder, 0o755);
  socketPath = join(folder, "peer.sock");
  accepted = [];
  acceptedWaiters = [];
  children = [];

  server = createServer((socket) => {
    const credentials = readPeerCredentials(socket);
    const claimed = once(createInterface({ input: socket }), "line").then(([line]) => JSON.parse(line as string) as ClientIdentity);
    accepted.push({ socket, credentials, claimed });
    acceptedWaiters.splice(0).forEach((wake) => wake());
  });
  server.listen(socketPath);
  await once(server, "listening");
  chmodSync(socketPath, 0o777);
});

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
  // Credentials are released here, not when their connection closes, so that the tests
  // of exited clients exercise the pidfd rather than the released state.
  for (const connection of accepted) {
    connection.socket.destroy();
    connection.credentials.release();
  }
  await new Promise((resolve) => server.close(resolve));
  rmSync(folder, { recursive: true, force: true });
});

/** Starts the test client behind `wrapper` (for example setpriv) and returns the child. */
function startClient(wrapper: string[] = []): ChildProcess {
  const command = [...wrapper, process.execPath, CLIENT_SCRIPT, socketPath];
  const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}

/** Waits for the connection whose client claims `pid`. */
async function connectionOf(pid: number): Promise<AcceptedConnection & { identity: ClientIdentity }> {
  for (let index = 0; ; index++) {
    while (accepted.length <= index) {
      await new Promise<void>((resolve) => acceptedWaiters.push(resolve));
    }
    const connection = accepted[index]!;
    const identity = await connection.claimed;
    if (identity.pid === pid) {
      return { ...connection, identity };
    }
  }
}

/** Tells the client to exit and waits until it has been reaped. */
async function stopClient(child: ChildProcess, connection: AcceptedConnection): Promise<void> {
  const exited = once(child, "exit");
  connection.socket.write("exit\n");
  await exited;
}

function commandWorks(command: string[]): boolean {
  return spawnSync(command[0]!, command.slice(1), { stdio: "ignore" }).status === 0;
}

describe("readPeerCredentials", () => {
  it("reports pid, uid and gid of a child", async () => {
    const child = startClient();

    const { credentials, identity } = await connectionOf(child.pid!);

    expect(credentials.pid).toBe(child.pid);
    expect(identity.pid).toBe(child.pid);
    expect(credentials.uid).toBe(process.getuid!());
    expect(credentials.gid).toBe(process.getgid!());
    expect(credentials.startTime).toBe(readProcessStartTime(child.pid!));
    expect(credentials.isAlive()).toBe(true);
  });

  it.skipIf(!isRoot)("reports uid of a client run as another user (needs root)", async () => {
    const child = startClient(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);

    const { credentials, identity } = await connectionOf(child.pid!);

    expect(identity.uid).toBe(65534);
    expect(credentials.pid).toBe(child.pid);
    expect(credentials.uid).toBe(65534);
    expect(credentials.gid).toBe(65534);
  });

  it("reports real uid of user-namespace root", async (context) => {
    // As root, the client first drops to uid 65534 so that its real uid differs from 0,
    // the uid it believes it has inside the namespace.
    const dropPrivileges = isRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    const wrapper = [...dropPrivileges, "unshare", "--user", "--map-root-user"];
    if (!commandWorks([...wrapper, "true"])) {
      context.skip("unshare --user fails here: unprivileged user namespaces are disabled");
    }
    const realUid = isRoot ? 65534 : process.getuid!();

    const child = startClient(wrapper);
    const { credentials, identity } = await connectionOf(child.pid!);

    expect(identity.uid).toBe(0);
    expect(credentials.pid).toBe(child.pid);
    expect(credentials.uid).toBe(realUid);
  });

  it("reports exited client as not alive", async () => {
    const child = startClient();
    const connection = await connectionOf(child.pid!);
    expect(connection.credentials.isAlive()).toBe(true);

    await stopClient(child, connection);

    expect(connection.credentials.isAlive()).toBe(false);
  });

  it("reports unreaped exited client as not alive", async () => {
    // sh starts the client in the background and becomes sleep, which never reaps it,
    // so the exited client stays a zombie that keeps its pid.
    const shell = spawn("sh", ["-c", 'node "$1" "$2" & exec sleep 1000', "sh", CLIENT_SCRIPT, socketPath], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(shell);
    const [line] = (await once(createInterface({ input: shell.stdout! }), "line")) as [string];
    const clientPid = (JSON.parse(line) as ClientIdentity).pid;
    const connection = await connectionOf(clientPid);
    expect(connection.credentials.isAlive()).toBe(true);

    connection.socket.write("exit\n");
    while (processState(clientPid) !== "Z") {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    expect(existsSync(`/proc/${clientPid}`)).toBe(true);
    expect(connection.credentials.isAlive()).toBe(false);
  });

  it("keeps two concurrent clients apart", async () => {
    const first = startClient();
    const second = startClient();

    const [firstConnection, secondConnection] = await Promise.all([connectionOf(first.pid!), connectionOf(second.pid!)]);

    expect(firstConnection.credentials.pid).toBe(first.pid);
    expect(secondConnection.credentials.pid).toBe(second.pid);
    expect(firstConnection.credentials.startTime).toBe(readProcessStartTime(first.pid!));
    expect(secondConnection.credentials.startTime).toBe(readProcessStartTime(second.pid!));

    await stopClient(first, firstConnection);

    expect(firstConnection.credentials.isAlive()).toBe(false);
    expect(secondConnection.credentials.isAlive()).toBe(true);
  });

  it("reports released credentials as not alive", async () => {
    const child = startClient();
    const { credentials } = await connectionOf(child.pid!);

    credentials.release();

    expect(credentials.isAlive()).toBe(false);
  });

  it.skipIf(!isRoot)("detects PID reuse in a PID namespace (needs root)", () => {
    // The probe runs as pid 1 of its own PID namespace, where writing ns_last_pid lets
    // it hand a dead client's pid to a new process.
    const probe = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, PID_REUSE_PROBE, folder], {
      encoding: "utf8",
    });
    expect(probe.status, `pid reuse probe failed: ${probe.stderr}`).toBe(0);
    const report = JSON.parse(probe.stdout) as Record<string, unknown>;

    expect(report.credentialsPidP).toBe(report.pidP);
    expect(report.aliveWhileRunning).toBe(true);
    expect(report.connectionOpenAfterExit).toBe(true);
    expect(report.aliveAfterExit).toBe(false);
    expect(report.pidQ).toBe(report.pidP);
    expect(report.credentialsPidQ).toBe(report.pidP);
    expect(report.aliveQ).toBe(true);
    expect(report.aliveAfterReuse).toBe(false);
  });
});

describe("peerHasExited", () => {
  it("finds ENOENT or ESRCH in the cause chain", () => {
    const missingStat = Object.assign(new Error("ENOENT: no such file or directory, open '/proc/1234/stat'"), { code: "ENOENT" });
    const goneProcess = Object.assign(new Error("pidfd_open: No such process"), { code: "ESRCH" });

    expect(peerHasExited(new Error("failed to read the start time of peer pid 1234", { cause: missingStat }))).toBe(true);
    expect(peerHasExited(new Error("failed to open a pidfd", { cause: goneProcess }))).toBe(true);
  });

  it("ignores other failures", () => {
    const badDescriptor = Object.assign(new Error("getsockopt(SO_PEERCRED): Bad file descriptor"), { code: "EBADF" });

    expect(peerHasExited(new Error("peer pid is 0"))).toBe(false);
    expect(peerHasExited(new Error("failed to read peer credentials", { cause: badDescriptor }))).toBe(false);
    expect(peerHasExited("ENOENT")).toBe(false);
  });
});

describe("readProcessStartTime", () => {
  it("reads field 22 of own stat", () => {
    const stat = readFileSync("/proc/self/stat", "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");

    expect(readProcessStartTime(process.pid)).toBe(Number(fields[19]));
  });

  it("parses a command name with spaces and parentheses", async () => {
    // exec -a sets argv[0], but the kernel's command name comes from the file name, so a
    // copy of sleep under an awkward name is started instead.
    const awkward = join(folder, "a) b (c");
    spawnSync("cp", ["/bin/sleep", awkward]);
    const child = spawn(awkward, ["1000"], { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");

    const stat = readFileSync(`/proc/${child.pid}/stat`, "latin1");
    expect(stat).toContain("(a) b (c)");
    expect(readProcessStartTime(child.pid!)).toBe(Number(stat.split(") ")[2]!.split(" ")[19]));
  });

  it("throws for a missing process", () => {
    expect(() => readProcessStartTime(2 ** 22 + 1)).toThrow(/ENOENT/);
  });
});

function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
}
