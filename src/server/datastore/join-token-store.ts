import type { Database } from "better-sqlite3";
import type { JoinToken } from "./types.js";

/** Raised when a new join token's value is already stored. */
export class JoinTokenTakenError extends Error {
  override readonly name = "JoinTokenTakenError";
}

/** Join token storage; see {@link createJoinTokenStore}. */
export interface JoinTokenStore {
  create(token: JoinToken): void;
  /**
   * Deletes and returns the token in one transaction, so that two agents racing with the
   * same token cannot both get it. Returns undefined when the token does not exist (never
   * created, or already used). Expiry is the caller's check: an expired token is still
   * consumed, as in SPIRE.
   */
  take(token: string): JoinToken | undefined;
  /** Deletes tokens that expired before `now`; returns how many. */
  pruneExpired(now: Date): number;
}

/** Creates the join token store on an open database. */
export function createJoinTokenStore(db: Database): JoinTokenStore {
  const insert = db.prepare("INSERT INTO join_tokens (token, expires_at) VALUES (?, ?)");
  const select = db.prepare("SELECT token, expires_at FROM join_tokens WHERE token = ?");
  const remove = db.prepare("DELETE FROM join_tokens WHERE token = ?");
  const removeExpired = db.prepare("DELETE FROM join_tokens WHERE expires_at < ?");

  const take = db.transaction((token: string) => {
    const row = select.get(token) as { token: string; expires_at: number } | undefined;
    if (row === undefined) return undefined;
    remove.run(token);
    return { token: row.token, expiresAt: row.expires_at };
  });

  return {
    create(token) {
      if (select.get(token.token) !== undefined) {
        throw new JoinTokenTakenError("failed to create join token: a token with this value already exists");
      }
      insert.run(token.token, token.expiresAt);
    },
    take: (token) => take(token),
    pruneExpired: (now) => removeExpired.run(Math.floor(now.getTime() / 1000)).changes,
  };
}
