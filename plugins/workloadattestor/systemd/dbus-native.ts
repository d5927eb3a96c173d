import { createRequire } from "node:module";
import type { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";

/**
 * The parts of `@homebridge/dbus-native` 0.7.9 that Tessera uses, typed here because the
 * package's own `index.d.ts` declares only `systemBus()` and leaves out `createClient`,
 * `invoke` replies and the server-side calls that tests use.
 */
export interface NativeMessage {
  destination?: string;
  path: string;
  interface: string;
  member: string;
  /** Header flags, e.g. 0x2 (NO_AUTO_START). */
  flags?: number;
  /** D-Bus type signature of `body`, e.g. `u` or `ss`. */
  signature?: string;
  body?: unknown[];
}

/** An error reply as the package passes it to a callback: the D-Bus error name and its text. */
export interface NativeErrorReply {
  name?: string;
  message?: unknown;
}

/** The `this` value of a {@link NativeBus.invoke} callback. */
export interface NativeReplyContext {
  /** Signature of the reply body; undefined for an empty body. */
  signature?: string;
}

/** The connection under a bus: emits `error`, `end` and `message`. */
export interface NativeConnection extends EventEmitter {
  end(): void;
}

/** Description of an exported interface: method name to `[in signature, out signature]`, property name to signature. */
export interface NativeInterfaceDescription {
  name: string;
  methods?: Record<string, [string, string]>;
  properties?: Record<string, string>;
}

/** A bus client from `createClient`. */
export interface NativeBus {
  connection: NativeConnection;
  /** Unique name assigned by the bus daemon after Hello; undefined until then. */
  name?: string;
  invoke(
    message: NativeMessage,
    callback: (this: NativeReplyContext, error: NativeErrorReply | null, ...body: unknown[]) => void,
  ): void;
  requestName(name: string, flags: number, callback: (error: NativeErrorReply | null, result?: number) => void): void;
  exportInterface(implementation: object, path: string, description: NativeInterfaceDescription): void;
}

/** Options of `createClient`. */
export interface NativeClientOptions {
  /** An already connected byte stream; the package then opens nothing itself. */
  stream: Duplex;
  /** SASL mechanisms to try in order. */
  authMethods?: string[];
}

interface NativeModule {
  createClient(options: NativeClientOptions): NativeBus;
}

const require = createRequire(import.meta.url);

/**
 * The package loaded through `require`, because it is CommonJS and its type declarations
 * do not list `createClient`.
 */
export const dbusNative = require("@homebridge/dbus-native") as NativeModule;
