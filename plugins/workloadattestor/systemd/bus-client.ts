import { createConnection } from "node:net";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { socketPathOfBusAddress } from "./bus-address.js";
import { dbusNative } from "./dbus-native.js";
import type { NativeBus, NativeErrorReply, NativeMessage } from "./dbus-native.js";

/**
 * Header flag NO_AUTO_START: with it the bus daemon starts no program to own a missing
 * name. systemd is PID 1 and never bus-activated, so a missing name should fail at once.
 */
const NO_AUTO_START = 0x2;

/** A method call to send on the bus. */
export interface BusMethodCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

/** A method return: its body and the D-Bus signature that describes it (empty for no body). */
export interface BusReply {
  signature: string;
  body: unknown[];
}

/** An error reply from the remote side, e.g. `org.freedesktop.systemd1.NoUnitForPID`. */
export class BusErrorReply extends Error {
  override readonly name = "BusErrorReply";

  constructor(
    /** D-Bus error name. */
    readonly errorName: string,
    text: string,
  ) {
    super(`${errorName}: ${text}`);
  }
}

/** A D-Bus connection shared by many calls. */
export interface BusClient {
  /**
   * Sends `call` and resolves with the method return. Rejects with {@link BusErrorReply}
   * for an error reply, with a connection error when the bus cannot be reached or the
   * connection drops before the reply, and with `signal.reason` on abort.
   */
  call(call: BusMethodCall, signal: AbortSignal): Promise<BusReply>;
  /** Closes the connection and rejects the calls still waiting; a later call opens a new one. */
  close(): void;
}

/** Settings for {@link createBusClient}. */
export interface BusClientOptions {
  /** Returns the D-Bus address to connect to; called again for every new connection. */
  address: () => string;
  logger: Logger;
}

/** One open connection and the calls waiting on it. */
interface OpenConnection {
  address: string;
  socket: Socket;
  bus: NativeBus;
  /** Rejecters of the calls sent on this connection that have no reply yet. */
  waiting: Set<(error: Error) => void>;
  /** Set once the socket failed or closed; the next call opens a new connection. */
  failure?: Error;
}

/**
 * Creates a D-Bus client that opens one connection on first use, sends every call over
 * it, and opens a new one on the next call after the connection failed or closed (for
 * example when dbus-daemon restarted).
 *
 * The package under it (`@homebridge/dbus-native`) never completes calls that were waiting
 * when the socket closed, so this client tracks them and rejects them itself. The socket
 * is unreferenced while no call waits, so an idle connection does not keep Node running.
 */
export function createBusClient(options: BusClientOptions): BusClient {
  let current: OpenConnection | undefined;
  let lostBefore = false;

  function connection(): OpenConnection {
    if (current !== undefined && current.failure === undefined) {
      return current;
    }

    lostBefore = lostBefore || current !== undefined;
    current = openConnection(options, lostBefore);
    return current;
  }

  return {
    call(call, signal) {
      signal.throwIfAborted();
      return sendCall(connection(), call, signal);
    },

    close() {
      if (current !== undefined) {
        closeConnection(current, new Error("the D-Bus connection was closed by the workload attestor"));
        current = undefined;
      }
    },
  };
}

function openConnection(options: BusClientOptions, reopening: boolean): OpenConnection {
  const address = options.address();
  const socketPath = socketPathOfBusAddress(address);

  options.logger.debug({ bus_address: address }, reopening ? "Reopening the D-Bus connection" : "Opening the D-Bus connection");
  const socket = createConnection(socketPath);
  socket.unref();
  // EXTERNAL alone: the system bus accepts only it, and the package's fallback mechanism
  // (DBUS_COOKIE_SHA1) would read ~/.dbus-keyrings, which the agent has no use for.
  const bus = dbusNative.createClient({ stream: socket, authMethods: ["EXTERNAL"] });
  const open: OpenConnection = { address, socket, bus, waiting: new Set() };

  // Only the loss of an established connection is logged here. A failure to connect
  // reaches the caller as the call's error, which the agent logs once per attestation.
  let established = false;
  bus.connection.once("connect", () => {
    established = true;
    options.logger.debug({ bus_address: address }, "D-Bus connection established");
  });

  // The package forwards socket errors and handshake failures as "error" events on its
  // connection; without a listener Node would raise them as uncaught exceptions.
  bus.connection.on("error", (error: Error) => {
    const failure = new Error(`D-Bus connection to ${address} failed: ${describeSocketError(error)}`, { cause: error });
    if (open.failure === undefined && established) {
      options.logger.warn({ bus_address: address, err: failure }, "D-Bus connection failed; the next call opens a new one");
    }
    closeConnection(open, failure);
  });

  // "end" comes first when the daemon closes the connection; acting on it keeps a call
  // made before "close" from being written to a half-closed socket.
  const onClosed = (): void => {
    if (open.failure === undefined && established) {
      options.logger.warn({ bus_address: address }, "D-Bus connection closed by the bus; the next call opens a new one");
    }
    closeConnection(open, new Error(`the D-Bus connection to ${address} closed before the reply arrived`));
  };
  bus.connection.on("end", onClosed);
  socket.on("close", onClosed);

  return open;
}

function sendCall(open: OpenConnection, call: BusMethodCall, signal: AbortSignal): Promise<BusReply> {
  return new Promise<BusReply>((resolve, reject) => {
    const settle = (): void => {
      open.waiting.delete(rejectCall);
      signal.removeEventListener("abort", onAbort);
      if (open.waiting.size === 0) {
        open.socket.unref();
      }
    };
    const rejectCall = (error: Error): void => {
      settle();
      reject(error);
    };
    const onAbort = (): void => rejectCall(signal.reason as Error);

    open.waiting.add(rejectCall);
    open.socket.ref();
    signal.addEventListener("abort", onAbort, { once: true });

    const message: NativeMessage = { ...call, flags: NO_AUTO_START };
    open.bus.invoke(message, function (error, ...body) {
      if (!open.waiting.has(rejectCall)) {
        // Already rejected (abort or lost connection); a late reply is dropped.
        return;
      }
      settle();

      if (error !== null) {
        reject(errorFromReply(error));
        return;
      }
      resolve({ signature: this.signature ?? "", body });
    });
  });
}

function closeConnection(open: OpenConnection, failure: Error): void {
  if (open.failure === undefined) {
    open.failure = failure;
  }

  for (const rejectCall of [...open.waiting]) {
    rejectCall(open.failure);
  }
  open.socket.destroy();
}

function errorFromReply(reply: NativeErrorReply | Error): Error {
  if (reply instanceof Error) {
    // The package passes a plain Error when the bus refused Hello on this connection.
    return reply;
  }

  const text = typeof reply.message === "string" ? reply.message : "";
  return new BusErrorReply(reply.name ?? "org.freedesktop.DBus.Error.Failed", text);
}

/** Adds the likely cause to the socket errors that mean "no bus here". */
function describeSocketError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ECONNREFUSED") {
    return `${error.message} (no D-Bus daemon listens there; the systemd workload attestor needs the system bus of a host booted with systemd)`;
  }
  return error.message;
}
