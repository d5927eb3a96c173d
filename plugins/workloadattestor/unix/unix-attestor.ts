import type { WorkloadAttestor } from "../workload-attestor.js";
import { createAccountNamesReader, HOST_ACCOUNT_FILES } from "./account-names.js";
import type { AccountFiles } from "./account-names.js";
import { hashExecutable, readExecutablePath } from "./executable-digest.js";
import { readProcessCredentials } from "./process-status.js";
import type { UnixAttestorConfig } from "./unix-config.js";

/** Locations of the host state the attestor reads. Tests point them at other files. */
export interface UnixAttestorSources {
  /** Mount point of procfs; default `/proc`. */
  procRoot?: string;
  /** passwd and group files used for names; default `/etc/passwd` and `/etc/group`. */
  accountFiles?: AccountFiles;
}

/**
 * Creates the `unix` workload attestor. It describes a process by its credentials:
 * `uid:<n>`, `user:<name>`, `gid:<n>`, `group:<name>`, and for each supplementary group
 * `supplementary_gid:<n>` and `supplementary_group:<name>`. Name selectors appear only
 * when the ID has an entry in the local passwd or group file.
 *
 * With `discoverWorkloadPath` it adds `path:<executable>` and, unless
 * `workloadSizeLimit < 0`, `sha256:<hex>`. Those need read access to `/proc/<pid>/exe`
 * (root or CAP_SYS_PTRACE for other users' processes), and any failure there fails the
 * whole attestation, because a partial selector list could match a weaker entry.
 */
export function createUnixAttestor(config: UnixAttestorConfig, sources: UnixAttestorSources = {}): WorkloadAttestor {
  const procRoot = sources.procRoot ?? "/proc";
  const readNames = createAccountNamesReader(sources.accountFiles ?? HOST_ACCOUNT_FILES);

  return {
    name: "unix",
    async attest(pid, signal) {
      const [credentials, names] = await Promise.all([
        readProcessCredentials(pid, procRoot),
        readNames(),
      ]);

      const values: string[] = [];
      pushIdAndName(values, "uid", "user", credentials.uid, names.userName(credentials.uid));
      pushIdAndName(values, "gid", "group", credentials.gid, names.groupName(credentials.gid));
      for (const gid of credentials.supplementaryGids) {
        pushIdAndName(values, "supplementary_gid", "supplementary_group", gid, names.groupName(gid));
      }

      if (config.discoverWorkloadPath) {
        values.push(`path:${await readExecutablePath(pid, procRoot)}`);

        if (config.workloadSizeLimit >= 0) {
          values.push(`sha256:${await hashExecutable(pid, config.workloadSizeLimit, signal, procRoot)}`);
        }
      }

      return values;
    },
  };
}

function pushIdAndName(values: string[], idKind: string, nameKind: string, id: number, name: string | undefined): void {
  values.push(`${idKind}:${id}`);
  if (name !== undefined) {
    values.push(`${nameKind}:${name}`);
  }
}
