import type { Database } from "better-sqlite3";
import { dedupeSelectors, sortSelectors } from "../../spiffe/selector.js";
import type { Selector } from "../../spiffe/selector.js";
import type { AttestedNode, AttestedNodeWithSelectors } from "./types.js";

/** Raised when an update or delete names an agent that was never attested (or was evicted). */
export class NodeNotFoundError extends Error {
  override readonly name = "NodeNotFoundError";
}

/** Attested node (agent) storage; see {@link createNodeStore}. */
export interface NodeStore {
  get(spiffeId: string): AttestedNode | undefined;
  getWithSelectors(spiffeId: string): AttestedNodeWithSelectors | undefined;
  list(): AttestedNodeWithSelectors[];
  /**
   * Records a successful attestation in one transaction: replaces the node selectors and
   * creates the node, or, for an existing node, sets its current certificate and
   * `canReattest` and clears any pending new certificate.
   */
  recordAttestation(node: AttestedNode, selectors: readonly Selector[]): void;
  /** Stores the SVID issued by RenewAgent as the pending "new" certificate. */
  setNewCertificate(spiffeId: string, serialNumber: string, notAfter: number): void;
  /**
   * Promotes the pending certificate to current, but only if `serialNumber` is still the
   * pending one, so that two concurrent calls cannot promote a stale serial.
   */
  activateNewCertificate(spiffeId: string, serialNumber: string): void;
  /** Bans the agent by clearing both serial numbers, as SPIRE does. */
  ban(spiffeId: string): void;
  setAgentVersion(spiffeId: string, version: string): void;
  /** Deletes the node and its selectors; throws {@link NodeNotFoundError} when absent. */
  delete(spiffeId: string): AttestedNode;
  getSelectors(spiffeId: string): Selector[];
}

interface NodeRow {
  spiffe_id: string;
  attestation_type: string;
  cert_serial_number: string;
  cert_not_after: number;
  new_cert_serial_number: string;
  new_cert_not_after: number;
  can_reattest: number;
  agent_version: string;
}

const COLUMNS =
  "spiffe_id, attestation_type, cert_serial_number, cert_not_after, new_cert_serial_number, " +
  "new_cert_not_after, can_reattest, agent_version";

/** Creates the attested node store on an open database. */
export function createNodeStore(db: Database): NodeStore {
  const selectNode = db.prepare(`SELECT ${COLUMNS} FROM attested_nodes WHERE spiffe_id = ?`);
  const selectNodes = db.prepare(`SELECT ${COLUMNS} FROM attested_nodes ORDER BY spiffe_id`);
  const insertNode = db.prepare(
    `INSERT INTO attested_nodes (${COLUMNS}, created_at) VALUES ` +
      "(@spiffe_id, @attestation_type, @cert_serial_number, @cert_not_after, @new_cert_serial_number, " +
      "@new_cert_not_after, @can_reattest, @agent_version, @created_at)",
  );
  const updateAttested = db.prepare(
    "UPDATE attested_nodes SET cert_serial_number = ?, cert_not_after = ?, new_cert_serial_number = '', " +
      "new_cert_not_after = 0, can_reattest = ? WHERE spiffe_id = ?",
  );
  const updateNew = db.prepare(
    "UPDATE attested_nodes SET new_cert_serial_number = ?, new_cert_not_after = ? WHERE spiffe_id = ?",
  );
  const promoteNew = db.prepare(
    "UPDATE attested_nodes SET cert_serial_number = new_cert_serial_number, cert_not_after = new_cert_not_after, " +
      "new_cert_serial_number = '', new_cert_not_after = 0 WHERE spiffe_id = ? AND new_cert_serial_number = ?",
  );
  const clearSerials = db.prepare(
    "UPDATE attested_nodes SET cert_serial_number = '', new_cert_serial_number = '' WHERE spiffe_id = ?",
  );
  const updateVersion = db.prepare("UPDATE attested_nodes SET agent_version = ? WHERE spiffe_id = ?");
  const deleteNode = db.prepare("DELETE FROM attested_nodes WHERE spiffe_id = ?");
  const selectSelectors = db.prepare("SELECT type, value FROM node_selectors WHERE spiffe_id = ? ORDER BY type, value");
  const deleteSelectors = db.prepare("DELETE FROM node_selectors WHERE spiffe_id = ?");
  const insertSelector = db.prepare("INSERT INTO node_selectors (spiffe_id, type, value) VALUES (?, ?, ?)");

  function getSelectors(spiffeId: string): Selector[] {
    return selectSelectors.all(spiffeId) as Selector[];
  }

  function withSelectors(node: AttestedNode): AttestedNodeWithSelectors {
    return { ...node, banned: node.certSerialNumber === "", selectors: getSelectors(node.spiffeId) };
  }

  function requireChange(changes: number, spiffeId: string, action: string): void {
    if (changes === 0) {
      throw new NodeNotFoundError(`failed to ${action} agent ${JSON.stringify(spiffeId)}: agent not found`);
    }
  }

  const recordAttestation = db.transaction((node: AttestedNode, selectors: readonly Selector[]) => {
    deleteSelectors.run(node.spiffeId);
    for (const selector of sortSelectors(dedupeSelectors(selectors))) {
      insertSelector.run(node.spiffeId, selector.type, selector.value);
    }

    if (selectNode.get(node.spiffeId) === undefined) {
      insertNode.run({ ...toRow(node), created_at: Math.floor(Date.now() / 1000) });
    } else {
      updateAttested.run(node.certSerialNumber, node.certNotAfter, node.canReattest ? 1 : 0, node.spiffeId);
    }
  });

  const remove = db.transaction((spiffeId: string) => {
    const row = selectNode.get(spiffeId) as NodeRow | undefined;
    if (row === undefined) {
      throw new NodeNotFoundError(`failed to delete agent ${JSON.stringify(spiffeId)}: agent not found`);
    }
    deleteNode.run(spiffeId);
    deleteSelectors.run(spiffeId);
    return fromRow(row);
  });

  return {
    get(spiffeId) {
      const row = selectNode.get(spiffeId) as NodeRow | undefined;
      return row === undefined ? undefined : fromRow(row);
    },

    getWithSelectors(spiffeId) {
      const row = selectNode.get(spiffeId) as NodeRow | undefined;
      return row === undefined ? undefined : withSelectors(fromRow(row));
    },

    list: () => (selectNodes.all() as NodeRow[]).map((row) => withSelectors(fromRow(row))),

    recordAttestation: (node, selectors) => recordAttestation(node, selectors),

    setNewCertificate(spiffeId, serialNumber, notAfter) {
      requireChange(updateNew.run(serialNumber, notAfter, spiffeId).changes, spiffeId, "renew");
    },

    activateNewCertificate(spiffeId, serialNumber) {
      promoteNew.run(spiffeId, serialNumber);
    },

    ban(spiffeId) {
      requireChange(clearSerials.run(spiffeId).changes, spiffeId, "ban");
    },

    setAgentVersion(spiffeId, version) {
      requireChange(updateVersion.run(version, spiffeId).changes, spiffeId, "update");
    },

    delete: (spiffeId) => remove(spiffeId),
    getSelectors,
  };
}

function toRow(node: AttestedNode): NodeRow {
  return {
    spiffe_id: node.spiffeId,
    attestation_type: node.attestationType,
    cert_serial_number: node.certSerialNumber,
    cert_not_after: node.certNotAfter,
    new_cert_serial_number: node.newCertSerialNumber,
    new_cert_not_after: node.newCertNotAfter,
    can_reattest: node.canReattest ? 1 : 0,
    agent_version: node.agentVersion,
  };
}

function fromRow(row: NodeRow): AttestedNode {
  return {
    spiffeId: row.spiffe_id,
    attestationType: row.attestation_type,
    certSerialNumber: row.cert_serial_number,
    certNotAfter: row.cert_not_after,
    newCertSerialNumber: row.new_cert_serial_number,
    newCertNotAfter: row.new_cert_not_after,
    canReattest: row.can_reattest === 1,
    agentVersion: row.agent_version,
  };
}
