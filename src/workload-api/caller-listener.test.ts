import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Interface } from "node:readline";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { callerOf, listenWorkloadSocket } from "./caller-listener.js";
import type { WorkloadSocket } from "./caller-listener.js";
import { readProcessStartTime } from "./peer-credentials.js";
import { captureLogger } from "./test-logger.js";

const PROBE_CLIENT = fileURLToPath(new URL("testdata/grpc-probe-client.mjs", import.meta.url));
const HIDDEN_PID_LISTENER = fileURLToPath(new URL("testdata/hidden-pid-listener.mjs", import.meta.url));
const isRoot = process.getuid?.() === 0;

/** Reply of the probe service: the caller credentials its handler found, or null. */
interface ProbeReply {
  pid: number;
  uid: number;
  gid: number;
  startTime: number;
  alive: boolean;
}

const WHO_AM_I = "/test.Probe/WhoAmI";
const passThrough = (buffer: Buffer) => buffer;

/** A one-method gRPC service whose handler returns `callerOf(call)`. It needs no .proto file. */
const PROBE_SERVICE: grpc.ServiceDefinition = {
  whoAmI: {
    path: WHO_AM_I,
    requestStream: false,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

function whoAmI(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
  const caller = callerOf(call);
  const reply: ProbeReply | null =
    caller === undefined
      ? null
      : { pid: caller.pid, uid: caller.uid, gid: caller.gid, startTime: caller.startTime, alive: caller.isAlive() };
  callback(null, Buffer.from(JSON.stringify(reply)));
}

let folder: string;
let socketPath: string;
let server: grpc.Server;
let workloadSocket: WorkloadSocket | undefined;
let children: ChildProcess[];

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "caller-listener-"));
  socketPath = join(folder, "agent.sock");
  children = [];
  server = new grpc.Server();
  server.addService(PROBE_SERVICE, { whoAmI });
});

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
  await workloadSocket?.close();
  workloadSocket = undefined;
  server.forceShutdown();
  rmSync(folder, { recursive: true, force: true });
});

async function listen(mode?: number): Promise<ReturnType<typeof captureLogger>> {
  const captured = captureLogger();
  workloadSocket = await listenWorkloadSocket(server, { socketPath, mode, logger: captured.logger });
  return captured;
}

/** Calls WhoAmI from this process over a new connection. */
function callWhoAmI(path = socketPath): Promise<ProbeReply | null> {
  const client = new grpc.Client(`unix:${path}`, grpc.credentials.createInsecure());

  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(WHO_AM_I, passThrough, passThrough, Buffer.alloc(0), (error, reply) => {
      client.close();
      if (error) {
        reject(error);
      } else {
        resolve(JSON.parse(reply!.toString("utf8")) as ProbeReply | null);
      }
    });
  });
}

/** A grpc-probe-client.mjs child, connected by the time startProbeClient resolves. */
interface ProbeClient {
  child: ChildProcess;
  /** Makes one WhoAmI call from the child and returns its reply. */
  call(): Promise<ProbeReply | null>;
}

async function startProbeClient(): Promise<ProbeClient> {
  const child = spawn(process.execPath, [PROBE_CLIENT, socketPath], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const lines: Interface = createInterface({ input: child.stdout! });

  const [firstLine] = (await once(lines, "line")) as [string];
  expect(firstLine).toBe("connected");

  return {
    child,
    async call() {
      const replied = once(lines, "line");
      child.stdin!.write("call\n");
      const [line] = (await replied) as [string];
      const output = JSON.parse(line) as { pid: number; reply: ProbeReply | null };
      expect(output.pid).toBe(child.pid);
      return output.reply;
    },
  };
}

function countOpenPidfds(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[pidfd]";
    } catch {
      return false;
    }
  }).length;
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("listenWorkloadSocket", () => {
  it("links a call to its caller's credentials", async () => {
    // This test guards the dependency on how grpc-js builds getPeer(): if it stops
    // returning the socket's remoteAddress unchanged, callerOf finds nothing.
    await listen();

    const reply = await callWhoAmI();

    expect(reply).not.toBeNull();
    expect(reply!.pid).toBe(process.pid);
    expect(reply!.uid).toBe(process.getuid!());
    expect(reply!.gid).toBe(process.getgid!());
    expect(reply!.startTime).toBe(readProcessStartTime(process.pid));
    expect(reply!.alive).toBe(true);
  });

  it("keeps two concurrent child clients apart", async () => {
    await listen();

    const [first, second] = await Promise.all([startProbeClient(), startProbeClient()]);
    const [firstReply, secondReply] = await Promise.all([first.call(), second.call()]);

    expect(firstReply?.pid).toBe(first.child.pid);
    expect(secondReply?.pid).toBe(second.child.pid);
    expect(firstReply?.alive).toBe(true);
    expect(secondReply?.alive).toBe(true);
  });

  it("leaves calls from other listeners without caller", async () => {
    await listen();
    const otherPath = join(folder, "other.sock");
    const otherServer = new grpc.Server();
    otherServer.addService(PROBE_SERVICE, { whoAmI });
    await new Promise<number>((resolve, reject) =>
      otherServer.bindAsync(`unix:${otherPath}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );

    try {
      expect(await callWhoAmI(otherPath)).toBeNull();
    } finally {
      otherServer.forceShutdown();
    }
  });

  it("sets socket mode 0777 by default", async () => {
    await listen();

    expect(statSync(socketPath).mode & 0o777).toBe(0o777);
  });

  it("sets a given socket mode", async () => {
    await listen(0o700);

    expect(statSync(socketPath).mode & 0o777).toBe(0o700);
  });

  it("replaces a stale socket file", async () => {
    // A listener killed with SIGKILL leaves its socket file behind.
    const stale = spawnSync(process.execPath, [
      "-e",
      "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      socketPath,
    ]);
    expect(stale.signal).toBe("SIGKILL");
    expect(statSync(socketPath).isSocket()).toBe(true);

    await listen();

    expect((await callWhoAmI())?.pid).toBe(process.pid);
  });

  it("leaves a socket in use to its listener", async () => {
    await listen();
    const secondServer = new grpc.Server();

    try {
      await expect(listenWorkloadSocket(secondServer, { socketPath, logger: captureLogger().logger })).rejects.toThrow(
        `another process is already serving the Workload API on ${socketPath}: stop it or choose another socket_path`,
      );
    } finally {
      secondServer.forceShutdown();
    }

    expect(statSync(socketPath).isSocket()).toBe(true);
    expect((await callWhoAmI())?.pid).toBe(process.pid);
  });

  it("keeps a regular file in place", async () => {
    writeFileSync(socketPath, "not a socket");

    await expect(listen()).rejects.toThrow(/is not a socket/);
    expect(readFileSync(socketPath, "utf8")).toBe("not a socket");
  });

  it("closes connections and removes the socket on close", async () => {
    await listen();
    const client = await startProbeClient();
    const exited = once(client.child, "exit");

    const listening = workloadSocket!;
    workloadSocket = undefined;
    await listening.close();
    await listening.close();

    expect(existsSync(socketPath)).toBe(false);
    client.child.stdin!.write("call\n");
    const [exitCode] = (await exited) as [number];
    expect(exitCode).toBe(1);
  });

  it("releases pidfds when connections close", async () => {
    await listen();
    const before = countOpenPidfds();
    const client = await startProbeClient();
    await client.call();
    expect(countOpenPidfds()).toBe(before + 1);

    const exited = once(client.child, "exit");
    client.child.stdin!.end();
    await exited;

    await waitFor(() => countOpenPidfds() === before);
    expect(countOpenPidfds()).toBe(before);
  });

  it("logs accepted connections with caller pid", async () => {
    const { lines } = await listen();

    const client = await startProbeClient();
    await client.call();

    const accepted = lines.find((line) => line.msg === "Accepted Workload API connection");
    expect(accepted?.pid).toBe(client.child.pid);
    expect(accepted?.uid).toBe(process.getuid!());
  });

  it("logs exited clients at debug level", async () => {
    const { lines } = await listen();
    const clientCount = 5;

    // spawnSync blocks this event loop, so each client connects, exits and is reaped
    // before the listener accepts its connection.
    for (let index = 0; index < clientCount; index++) {
      const client = spawnSync(process.execPath, ["-e", "require('node:net').connect(process.argv[1], () => process.exit(0))", socketPath]);
      expect(client.status).toBe(0);
    }
    const rejections = () => lines.filter((line) => String(line.msg).startsWith("Rejected Workload API connection"));
    await waitFor(() => rejections().length >= clientCount);

    const warnings = lines.filter((line) => (line.level as number) >= 40);
    expect(warnings).toEqual([]);
    const exited = lines.filter((line) => line.msg === "Rejected Workload API connection: the client exited before its credentials were read");
    expect(exited).toHaveLength(clientCount);
    expect(exited[0]?.error).toMatch(/peer pid \d+/);
    expect(exited[0]?.err).toBeUndefined();
  });

  it.skipIf(!isRoot)("rejects a client with pid 0 (needs root)", async () => {
    // The listener runs in its own PID namespace, where this process has no pid, so the
    // kernel reports pid 0 for our connection.
    const logPath = join(folder, "listener.log");
    const listener = spawn("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, HIDDEN_PID_LISTENER, socketPath, logPath], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(listener);
    const [ready] = (await once(createInterface({ input: listener.stdout! }), "line")) as [string];
    expect(ready).toBe("listening");

    // Three rejected connections within 10 s give a single warning.
    let received = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      const socket = connect(socketPath);
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.on("error", () => {});
      await once(socket, "close");
    }

    const exited = once(listener, "exit");
    listener.stdin!.end();
    await exited;

    expect(received).toBe(0);
    const logLines = readFileSync(logPath, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { level: number; msg: string; error?: string; suppressed?: number });
    const warnings = logLines.filter((line) => line.level >= 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toBe("Rejected Workload API connection: failed to read caller credentials");
    expect(warnings[0]?.error).toMatch(/pid is 0/);
    expect(warnings[0]?.suppressed).toBe(0);
  });
});
