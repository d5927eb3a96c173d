import type { BusClient, BusMethodCall, BusReply } from "./bus-client.js";

const SYSTEMD_SERVICE = "org.freedesktop.systemd1";
const SYSTEMD_MANAGER_PATH = "/org/freedesktop/systemd1";
const SYSTEMD_MANAGER_INTERFACE = "org.freedesktop.systemd1.Manager";
const SYSTEMD_UNIT_INTERFACE = "org.freedesktop.systemd1.Unit";
const PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties";

/** Largest value of the D-Bus `u` type that GetUnitByPID takes. */
const MAX_UINT32 = 0xffff_ffff;

/** The two properties of a systemd unit that the `systemd` attestor turns into selectors. */
export interface SystemdUnit {
  /** Unit name, e.g. `nginx.service`. */
  id: string;
  /** File the unit was loaded from; empty for units without one, such as scopes. */
  fragmentPath: string;
}

/**
 * Asks systemd, over `bus`, which unit `pid` belongs to and reads that unit's `Id` and
 * `FragmentPath`.
 *
 * systemd resolves `pid` in its own PID namespace. A process outside every loaded unit
 * makes systemd reply `org.freedesktop.systemd1.NoUnitForPID`, and an unknown pid
 * `NoSuchProcess`; both are thrown, as SPIRE's plugin fails in those cases. A reply of
 * the wrong D-Bus type is thrown too rather than turned into a selector.
 */
export async function readUnitOfPid(bus: BusClient, pid: number, signal: AbortSignal): Promise<SystemdUnit> {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > MAX_UINT32) {
    throw new Error(`invalid pid ${pid}: systemd takes a positive 32-bit process ID`);
  }

  const unitPath = await getUnitPathByPid(bus, pid, signal);

  const [id, fragmentPath] = await Promise.all([
    readStringProperty(bus, unitPath, "Id", signal),
    readStringProperty(bus, unitPath, "FragmentPath", signal),
  ]);
  return { id, fragmentPath };
}

async function getUnitPathByPid(bus: BusClient, pid: number, signal: AbortSignal): Promise<string> {
  const failure = `failed to get the systemd unit of pid ${pid}`;
  const reply = await callSystemd(
    bus,
    { path: SYSTEMD_MANAGER_PATH, interface: SYSTEMD_MANAGER_INTERFACE, member: "GetUnitByPID", signature: "u", body: [pid] },
    signal,
    failure,
  );

  const unitPath = reply.body[0];
  if (reply.signature !== "o" || typeof unitPath !== "string") {
    throw new Error(`${failure}: GetUnitByPID returned a reply of D-Bus type "${reply.signature}", expected an object path ("o")`);
  }
  return unitPath;
}

/** Reads one string property of the unit at `unitPath` with org.freedesktop.DBus.Properties.Get. */
async function readStringProperty(bus: BusClient, unitPath: string, property: string, signal: AbortSignal): Promise<string> {
  const failure = `failed to read the ${property} property of systemd unit ${unitPath}`;
  const reply = await callSystemd(
    bus,
    { path: unitPath, interface: PROPERTIES_INTERFACE, member: "Get", signature: "ss", body: [SYSTEMD_UNIT_INTERFACE, property] },
    signal,
    failure,
  );

  const value = stringInVariant(reply);
  if (value === undefined) {
    throw new Error(`${failure}: systemd returned ${describeReplyType(reply)}, expected a string`);
  }
  return value;
}

/** Sends a method call to systemd; a failure is rethrown with `failure` in front of its message. */
async function callSystemd(
  bus: BusClient,
  call: Omit<BusMethodCall, "destination">,
  signal: AbortSignal,
  failure: string,
): Promise<BusReply> {
  try {
    return await bus.call({ destination: SYSTEMD_SERVICE, ...call }, signal);
  } catch (error) {
    throw new Error(`${failure}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Returns the string inside a reply whose body is one variant holding a string, or
 * undefined for any other shape. The package decodes a variant as
 * `[signature tree, [value]]`, where the tree lists one `{ type, child }` node per
 * complete type.
 */
function stringInVariant(reply: BusReply): string | undefined {
  if (reply.signature !== "v") {
    return undefined;
  }

  const variant = reply.body[0];
  if (!Array.isArray(variant) || variant.length !== 2) {
    return undefined;
  }

  const [tree, values] = variant as [unknown, unknown];
  const isStringType = Array.isArray(tree) && tree.length === 1 && (tree[0] as { type?: unknown }).type === "s";
  const value = Array.isArray(values) ? (values[0] as unknown) : undefined;
  return isStringType && typeof value === "string" ? value : undefined;
}

function describeReplyType(reply: BusReply): string {
  if (reply.signature !== "v") {
    return `a reply of D-Bus type "${reply.signature}" instead of a variant`;
  }

  const tree = (reply.body[0] as unknown[] | undefined)?.[0];
  const type = Array.isArray(tree) ? (tree[0] as { type?: unknown } | undefined)?.type : undefined;
  return `a variant of D-Bus type "${String(type)}"`;
}
