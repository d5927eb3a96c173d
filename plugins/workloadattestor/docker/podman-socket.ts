import type { CgroupEntry } from "../container/cgroup-file.js";

// Podman names container cgroups `libpod-<id>.scope` (systemd driver) or puts them under
// `/libpod_parent/libpod-<id>` or `/libpod/` (cgroupfs driver).
const PODMAN_CGROUP = /(?:libpod-|\/libpod\/)/;

// Rootless containers live under the owner's systemd user slice.
const USER_SLICE = /\/user-([0-9]+)\.slice\//;

const MAX_UID = 0xffff_ffff;

/**
 * Returns the file path of a `unix://` socket URL (`unix:///run/podman/podman.sock`).
 * Throws for any other scheme or an empty path: only local sockets are supported.
 */
export function socketPathFromUrl(url: string): string {
  if (!url.startsWith("unix://")) {
    throw new Error(`only unix:// socket URLs are supported, got ${JSON.stringify(url)}`);
  }

  const path = url.slice("unix://".length);
  if (!path.startsWith("/")) {
    throw new Error(`the socket URL must hold an absolute path, as in unix:///var/run/docker.sock, got ${JSON.stringify(url)}`);
  }
  return path;
}

/**
 * Checks a rootless Podman socket template: a `unix://` URL with exactly one `%d` (the
 * uid) and no `%` other than `%%`, the rules SPIRE applies. Throws with the reason.
 */
export function validatePodmanSocketTemplate(template: string): void {
  socketPathFromUrl(expandPodmanSocketTemplate(template, 0));
}

/** Replaces the `%d` of a template checked by {@link validatePodmanSocketTemplate} with `uid`, and `%%` with `%`. */
export function expandPodmanSocketTemplate(template: string, uid: number): string {
  let expanded = "";
  let placeholders = 0;

  for (let i = 0; i < template.length; i++) {
    const char = template[i] as string;
    if (char !== "%") {
      expanded += char;
      continue;
    }

    const verb = template[i + 1];
    if (verb === "%") {
      expanded += "%";
    } else if (verb === "d") {
      expanded += String(uid);
      placeholders += 1;
    } else if (verb === undefined) {
      throw new Error("the template ends with a lone %");
    } else {
      throw new Error(`the template may hold only %d (the uid) and %%, found %${verb}`);
    }
    i += 1;
  }

  if (placeholders !== 1) {
    throw new Error(`the template must hold exactly one %d for the uid, found ${placeholders}`);
  }
  return expanded;
}

/** The Podman API socket chosen for a container that Podman runs. */
export interface PodmanSocketChoice {
  /** File path of the socket. */
  socketPath: string;
  /** Owner uid of a rootless container; undefined for rootful Podman. */
  rootlessUid?: number;
}

/**
 * Picks the Podman socket for a process from its cgroups, as SPIRE does: the first path
 * that names a Podman container decides. A `/user-<uid>.slice/` in it means rootless
 * Podman and the templated socket of that uid; otherwise the rootful socket. Returns
 * undefined when no path names Podman, so the Docker socket applies.
 *
 * NOTE: a rootless Podman socket is served by a process of that user, so the selectors
 * it yields are only as trustworthy as the user. Registration entries for rootless
 * containers should also require `unix:uid`.
 */
export function choosePodmanSocket(
  cgroups: readonly CgroupEntry[],
  rootfulSocketPath: string,
  rootlessTemplate: string,
): PodmanSocketChoice | undefined {
  for (const entry of cgroups) {
    if (!PODMAN_CGROUP.test(entry.path)) {
      continue;
    }

    const match = USER_SLICE.exec(entry.path);
    const uid = match === null ? undefined : Number(match[1]);
    if (uid !== undefined && Number.isSafeInteger(uid) && uid <= MAX_UID) {
      return { socketPath: socketPathFromUrl(expandPodmanSocketTemplate(rootlessTemplate, uid)), rootlessUid: uid };
    }
    return { socketPath: rootfulSocketPath };
  }
  return undefined;
}
