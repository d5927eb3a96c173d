import { readFile, stat } from "node:fs/promises";

/** Paths of the passwd and group files that user and group names are read from. */
export interface AccountFiles {
  passwdPath: string;
  groupPath: string;
}

/** The host's account database files. */
export const HOST_ACCOUNT_FILES: AccountFiles = { passwdPath: "/etc/passwd", groupPath: "/etc/group" };

/** Name lookups by numeric ID, built from one read of the passwd and group files. */
export interface AccountNames {
  /** Returns the first user name with this uid, or undefined when there is none. */
  userName(uid: number): string | undefined;
  /** Returns the first group name with this gid, or undefined when there is none. */
  groupName(gid: number): string | undefined;
}

/**
 * Reads user and group names from passwd(5) and group(5) files.
 *
 * Only local files are consulted, with no NSS modules (LDAP, sssd), so a user that exists only
 * in a directory service gets no name. A missing or unreadable file gives no names
 * rather than an error, because a failed name lookup only omits the `user:`/`group:`
 * selectors; the numeric selectors are still produced.
 */
export async function readAccountNames(files: AccountFiles = HOST_ACCOUNT_FILES): Promise<AccountNames> {
  const [users, groups] = await Promise.all([readIdNameFile(files.passwdPath), readIdNameFile(files.groupPath)]);

  return {
    userName: (uid) => users.get(uid),
    groupName: (gid) => groups.get(gid),
  };
}

/**
 * Creates a reader of {@link AccountNames} that parses the passwd and group files again
 * only when one of them changed (inode, size or modification time differ), because every
 * Workload API call needs the names and re-reading both files each time costs more than
 * the rest of the attestation.
 */
export function createAccountNamesReader(files: AccountFiles = HOST_ACCOUNT_FILES): () => Promise<AccountNames> {
  let cachedVersion = "";
  let cachedNames: Promise<AccountNames> | undefined;

  return async () => {
    const version = (await Promise.all([fileVersion(files.passwdPath), fileVersion(files.groupPath)])).join("|");
    if (cachedNames === undefined || version !== cachedVersion) {
      cachedVersion = version;
      cachedNames = readAccountNames(files);
    }
    return cachedNames;
  };
}

/** Returns a string that changes whenever the file is replaced or modified; empty when missing. */
async function fileVersion(path: string): Promise<string> {
  try {
    const info = await stat(path);
    return `${info.ino}:${info.size}:${info.mtimeMs}`;
  } catch {
    return "";
  }
}

/**
 * Maps the numeric ID in the third field to the name in the first field. Both passwd
 * and group files share that layout (`name:password:id:...`).
 */
async function readIdNameFile(path: string): Promise<Map<number, string>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return new Map();
  }

  return parseIdNameLines(text);
}

/** Parses passwd/group lines; comments, NIS `+`/`-` lines and malformed lines are skipped. */
export function parseIdNameLines(text: string): Map<number, string> {
  const names = new Map<number, string>();

  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) {
      continue;
    }

    const [name, , idText] = line.split(":");
    if (name === undefined || name === "" || idText === undefined || !/^\d+$/.test(idText)) {
      continue;
    }

    const id = Number(idText);
    if (!names.has(id)) {
      names.set(id, name);
    }
  }

  return names;
}
