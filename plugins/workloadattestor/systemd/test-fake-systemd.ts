import { createConnection } from "node:net";
import { socketPathOfBusAddress } from "./bus-address.js";
import { dbusNative } from "./dbus-native.js";
import type { NativeMessage } from "./dbus-native.js";

/** A unit the fake systemd reports, with the D-Bus type and value of each property. */
export interface FakeUnit {
  /** Object path returned by GetUnitByPID, e.g. `/org/freedesktop/systemd1/unit/demo_2eservice`. */
  path: string;
  /**
   * Property name to `[D-Bus signature, value]`; `Id` and `FragmentPath` are strings on a
   * real systemd. Without it no object is exported at `path`.
   */
  properties?: Record<string, [string, unknown]>;
}

/** Behaviour of the fake `org.freedesktop.systemd1` service. */
export interface FakeSystemdOptions {
  /** Units by pid. A pid not listed gets the `NoUnitForPID` error a real systemd sends. */
  unitsByPid: Map<number, FakeUnit>;
  /** D-Bus type of the GetUnitByPID reply; a real systemd uses `o` (object path). */
  getUnitByPidSignature?: string;
  /** Pids for which GetUnitByPID never replies, to test aborts and lost connections. */
  silentPids?: Set<number>;
}

/** A fake systemd connected to a bus. */
export interface FakeSystemd {
  /** Unique bus name of each GetUnitByPID caller, in call order; a new name means a new connection. */
  readonly callers: string[];
  stop(): void;
}

/** Flag of RequestName: fail rather than wait in the queue when the name has an owner. */
const DO_NOT_QUEUE = 4;
const PRIMARY_OWNER = 1;

/**
 * Connects to the bus at `address`, takes the name `org.freedesktop.systemd1` and replies to
 * `org.freedesktop.systemd1.Manager.GetUnitByPID` on `/org/freedesktop/systemd1` and
 * `org.freedesktop.DBus.Properties.Get` on each unit path, from `options`.
 */
export async function startFakeSystemd(address: string, options: FakeSystemdOptions): Promise<FakeSystemd> {
  const socket = createConnection(socketPathOfBusAddress(address));
  const bus = dbusNative.createClient({ stream: socket, authMethods: ["EXTERNAL"] });
  const callers: string[] = [];
  bus.connection.on("error", () => socket.destroy());

  const manager = {
    GetUnitByPID(pid: number, message: NativeMessage & { sender?: string }): unknown {
      callers.push(message.sender ?? "");
      if (options.silentPids?.has(pid)) {
        return new Promise(() => {});
      }

      const unit = options.unitsByPid.get(pid);
      if (unit === undefined) {
        return Object.assign(new Error(`PID ${pid} does not belong to any loaded unit.`), {
          dbusName: "org.freedesktop.systemd1.NoUnitForPID",
        });
      }
      return unit.path;
    },
  };
  bus.exportInterface(manager, "/org/freedesktop/systemd1", {
    name: "org.freedesktop.systemd1.Manager",
    methods: { GetUnitByPID: ["u", options.getUnitByPidSignature ?? "o"] },
  });

  for (const unit of options.unitsByPid.values()) {
    if (unit.properties === undefined) {
      continue;
    }
    const signatures = Object.fromEntries(Object.entries(unit.properties).map(([name, [signature]]) => [name, signature]));
    const values = Object.fromEntries(Object.entries(unit.properties).map(([name, [, value]]) => [name, value]));
    bus.exportInterface(values, unit.path, { name: "org.freedesktop.systemd1.Unit", properties: signatures });
  }

  await new Promise<void>((resolve, reject) => {
    bus.requestName("org.freedesktop.systemd1", DO_NOT_QUEUE, (error, result) => {
      if (error !== null) {
        reject(new Error(`fake systemd failed to take its bus name: ${String(error.name)} ${String(error.message)}`));
      } else if (result !== PRIMARY_OWNER) {
        reject(new Error(`fake systemd did not become the owner of org.freedesktop.systemd1 (RequestName returned ${result})`));
      } else {
        resolve();
      }
    });
  });

  return {
    callers,
    stop: () => socket.destroy(),
  };
}

/** Builds a FakeUnit with string `Id` and `FragmentPath`, at the object path systemd would give the unit. */
export function fakeServiceUnit(id: string, fragmentPath: string): FakeUnit {
  // systemd escapes every byte outside [A-Za-z0-9] in a unit's object path as _xx.
  const escaped = id.replace(/[^A-Za-z0-9]/g, (character) => `_${character.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return {
    path: `/org/freedesktop/systemd1/unit/${escaped}`,
    properties: { Id: ["s", id], FragmentPath: ["s", fragmentPath] },
  };
}
