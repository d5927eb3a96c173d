import type { Logger } from "pino";
import type { WorkloadAttestor } from "../workload-attestor.js";
import { systemBusAddress } from "./bus-address.js";
import { createBusClient } from "./bus-client.js";
import type { SystemdAttestorConfig } from "./systemd-config.js";
import { readUnitOfPid } from "./systemd-unit.js";

/** The `systemd` attestor, which holds a D-Bus connection that {@link SystemdAttestor.close} releases. */
export interface SystemdAttestor extends WorkloadAttestor {
  /** Closes the system bus connection; calls still waiting fail. A later `attest` opens a new one. */
  close(): void;
}

/** Location of the system bus; tests point it at a private bus. */
export interface SystemdAttestorSources {
  /** D-Bus address; default `DBUS_SYSTEM_BUS_ADDRESS`, else `unix:path=/var/run/dbus/system_bus_socket`. */
  busAddress?: string;
}

/**
 * Creates the `systemd` workload attestor. For the caller's pid it calls systemd's
 * `GetUnitByPID` over the system D-Bus and returns `id:<unit name>` and
 * `fragment_path:<unit file>`, the values SPIRE's plugin returns. A unit without a unit
 * file (a scope) gives `fragment_path:` with an empty path, as in SPIRE.
 *
 * It throws when the process belongs to no unit, when systemd does not answer, or when
 * the system bus is missing (a host not booted with systemd, or a container without the
 * host's `/run/dbus` socket). One connection serves every call and is opened again after
 * it drops; the address is read again for every new connection.
 */
export function createSystemdAttestor(
  _config: SystemdAttestorConfig,
  logger: Logger,
  sources: SystemdAttestorSources = {},
): SystemdAttestor {
  const bus = createBusClient({
    address: () => sources.busAddress ?? systemBusAddress(),
    logger,
  });

  return {
    name: "systemd",

    async attest(pid, signal) {
      const unit = await readUnitOfPid(bus, pid, signal);
      return [`id:${unit.id}`, `fragment_path:${unit.fragmentPath}`];
    },

    close() {
      bus.close();
    },
  };
}
