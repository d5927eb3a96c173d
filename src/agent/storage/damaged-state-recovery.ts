import type { Logger } from "../../common/log.js";
import { DamagedFileError, moveDamagedFileAside } from "./damaged-file.js";

/** Properties of the configured node attestor that the recovery depends on. */
export interface AttestorTraits {
  /** Plugin name, e.g. `join_token` or `x509pop`. */
  name: string;
  /** True when the attestor can attest again with its configuration (see NodeAttestor.reattestable). */
  reattestable: boolean;
}

/**
 * Runs `open` (which reads agent-data.json or keys.json) and returns its result. When it
 * throws a {@link DamagedFileError}:
 * - with a reattestable node attestor, the damaged file is renamed to
 *   `<file>.damaged-<time>` with a warning and `open` runs once more, so the agent attests
 *   again instead of staying down;
 * - otherwise it throws an Error that names the file, what is wrong with it and what the
 *   operator must do, because attesting again would need new credentials (a join token is
 *   single use).
 * Other errors pass through unchanged.
 */
export function openWithDamageRecovery<T>(open: () => T, attestor: AttestorTraits, logger: Logger): T {
  try {
    return open();
  } catch (error) {
    if (!(error instanceof DamagedFileError)) {
      throw error;
    }

    if (!attestor.reattestable) {
      throw new Error(damagedFileAdvice(error, attestor), { cause: error });
    }

    const aside = moveDamagedFileAside(error.path);
    logger.warn(
      { path: error.path, moved_to: aside, problem: error.problem, node_attestor: attestor.name },
      "Moved a damaged agent file aside; the agent attests again",
    );
    return open();
  }
}

/** Builds the message for a damaged file that the configured attestor cannot recover from. */
export function damagedFileAdvice(error: DamagedFileError, attestor: AttestorTraits): string {
  const credentials =
    attestor.name === "join_token" ? "a new join token (join_token, join_token_file or -joinToken)" : "new attestation credentials";
  return (
    `${error.path} is damaged: ${error.problem}. The ${attestor.name} node attestor cannot attest again with the credentials ` +
    `it already used, so the agent does not replace the file on its own: remove ${error.path} and start the agent with ${credentials}`
  );
}
