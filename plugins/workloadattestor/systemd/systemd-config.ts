/**
 * Settings of the `systemd` workload attestor. SPIRE's plugin takes none, so this is
 * empty; the bus address comes from `DBUS_SYSTEM_BUS_ADDRESS`, as in SPIRE.
 */
export type SystemdAttestorConfig = Readonly<Record<string, never>>;

/**
 * Validates the `systemd` attestor's `plugin_data` (already parsed from HCL or JSON into
 * plain data). Any key is an error naming that key, because the plugin has no settings
 * and a key there is a mistake, such as options meant for another plugin.
 */
export function parseSystemdAttestorConfig(pluginData: Record<string, unknown> | undefined): SystemdAttestorConfig {
  const [firstKey] = Object.keys(pluginData ?? {});
  if (firstKey !== undefined) {
    throw new Error(
      `invalid systemd workload attestor configuration: unknown key "${firstKey}"; the systemd plugin takes no settings, so leave plugin_data empty`,
    );
  }
  return {};
}
