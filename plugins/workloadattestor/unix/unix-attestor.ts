import type { WorkloadAttestor } from "../workload-attestor.js";
import { createAccountNamesReader, HOST_ACCOUNT_FILES } from "./account-names.js";
import type { AccountFiles } from "./account-names.js";
import { createExecutableDigestCache } from "./executable-digest-cache.js";
import type { ExecutableDigestCache } from "./executable-digest-cache.js";
import { readProcessCredentials } from "./process-status.js";
import type { UnixAttestorConfig } from "./unix-config.js";
import { readWorkloadExecutable } from "./workload-executable.js";

/** Locations of the host state the attestor reads. Tests point them at other files. */
export interface UnixAttestorSources {
  /** Mount point of procfs; default `HOST_PROC` when set (as in SPIRE), else `/proc`. */
  procRoot?: string;
  /** passwd and group files used for names; default `/etc/passwd` and `/etc/group`. */
  accountFiles?: AccountFiles;
  /** Digests of executables already hashed; default a new cache for this attestor. */
  digestCache?: ExecutableDigestCache;
}

/**
 * Creates the `unix` workload attestor. It describes a process by its credentials:
 * `uid:<n>`, `user:<name>`, `gid:<n>`, `group:<name>`, and for each supplementary group
 * `supplementary_gid:<n>` and `supplementary_group:<name>`. Name selectors appear only
 * when the ID has an entry in the local passwd or group file.
 *
 * With `discoverWorkloadPath` it adds `path:<executable>` and, unless
 * `workloadSizeLimit < 0`, `sha256:<hex>`, both describing the binary the process runs
 * (see {@link readWorkloadExecutable}). Those need read access to `/proc/<pid>/exe`
 * (root or CAP_SYS_PTRACE for other users' processes), and any failure there fails the
 * whole attestation, because a partial selector list could match a weaker entry. Digests
 * are cached by file identity, so a binary is hashed once while it stays unchanged.
 */
export function createUnixAttestor(config: UnixAttestorConfig, sources: UnixAttestorSources = {}): WorkloadAttestor {
  const procRoot = sources.procRoot ?? hostProcRoot();
  const digestCache = sources.digestCache ?? createExecutableDigestCache();
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
        const executable = await readWorkloadExecutable(pid, {
          procRoot,
          sizeLimit: config.workloadSizeLimit,
          cache: digestCache,
          signal,
        });
        values.push(`path:${executable.path}`);
        if (executable.sha256 !== undefined) {
          values.push(`sha256:${executable.sha256}`);
        }
      }

      return values;
    },
  };
}

/** Returns `HOST_PROC` when set, which SPIRE reads for a host procfs mounted elsewhere (e.g. in a container). */
function hostProcRoot(): string {
  const fromEnv = process.env.HOST_PROC;
  return fromEnv === undefined || fromEnv === "" ? "/proc" : fromEnv;
}

function pushIdAndName(values: string[], idKind: string, nameKind: string, id: number, name: string | undefined): void {
  values.push(`${idKind}:${id}`);
  if (name !== undefined) {
    values.push(`${nameKind}:${name}`);
  }
}
