/**
 * System bus address used when `DBUS_SYSTEM_BUS_ADDRESS` is unset, as the D-Bus
 * specification defines it and as SPIRE's D-Bus library (godbus) falls back to.
 */
export const DEFAULT_SYSTEM_BUS_ADDRESS = "unix:path=/var/run/dbus/system_bus_socket";

/**
 * Returns the system bus address from `DBUS_SYSTEM_BUS_ADDRESS`, or
 * {@link DEFAULT_SYSTEM_BUS_ADDRESS} when it is unset or empty.
 */
export function systemBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.DBUS_SYSTEM_BUS_ADDRESS;
  return fromEnv === undefined || fromEnv === "" ? DEFAULT_SYSTEM_BUS_ADDRESS : fromEnv;
}

/**
 * Returns the Unix socket path to connect to for a D-Bus server address such as
 * `unix:path=/run/dbus/system_bus_socket`.
 *
 * An address may list several entries separated by `;`; the first `unix:` entry with a
 * `path=` or `abstract=` key is used. An abstract socket name comes back with a leading
 * NUL byte, which is how Node's `net.connect` on Linux names the abstract namespace.
 * Values are unescaped (`%2f` becomes `/`) as the D-Bus specification requires. Other
 * transports (`tcp:`, `unixexec:`) are rejected, because the system bus listens on a Unix
 * socket.
 */
export function socketPathOfBusAddress(address: string): string {
  for (const entry of address.split(";")) {
    if (entry === "") {
      continue;
    }

    const colon = entry.indexOf(":");
    if (colon === -1 || entry.slice(0, colon) !== "unix") {
      continue;
    }

    const keys = parseKeyValues(entry.slice(colon + 1), address);
    const path = keys.get("path");
    if (path !== undefined && path !== "") {
      return path;
    }
    const abstract = keys.get("abstract");
    if (abstract !== undefined && abstract !== "") {
      return `\0${abstract}`;
    }
  }

  throw new Error(
    `invalid D-Bus address ${JSON.stringify(address)}: no unix:path= or unix:abstract= entry; set DBUS_SYSTEM_BUS_ADDRESS to e.g. ${DEFAULT_SYSTEM_BUS_ADDRESS}`,
  );
}

function parseKeyValues(text: string, address: string): Map<string, string> {
  const keys = new Map<string, string>();

  for (const pair of text.split(",")) {
    const equals = pair.indexOf("=");
    if (equals <= 0) {
      throw new Error(`invalid D-Bus address ${JSON.stringify(address)}: ${JSON.stringify(pair)} is not key=value`);
    }
    keys.set(pair.slice(0, equals), unescapeValue(pair.slice(equals + 1), address));
  }

  return keys;
}

function unescapeValue(value: string, address: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new Error(`invalid D-Bus address ${JSON.stringify(address)}: bad %-escape in ${JSON.stringify(value)}`);
  }
}
