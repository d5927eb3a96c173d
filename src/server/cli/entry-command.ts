import type { FlagSpec } from "../../config/flags.js";
import type { entryv1, types } from "../../proto/index.js";
import { parseSelector } from "../../spiffe/selector.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import { connectAdmin, goCodeName } from "./admin-client.js";
import { CliError, runCommand, SOCKET_PATH_FLAG, stringFlag, stringListFlag } from "./command.js";
import type { CommandIo } from "./command.js";
import { formatEntry, pluralize } from "./format.js";
import { protoIdFromFlag } from "./id-flag.js";

const CREATE_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { name: "entryID", type: "string", usage: "A custom ID for this registration entry (optional); a UUID is generated when unset" },
  { name: "parentID", type: "string", usage: "The SPIFFE ID of this record's parent" },
  { name: "spiffeID", type: "string", usage: "The SPIFFE ID that this record represents" },
  { name: "selector", type: "string", repeatable: true, usage: "A colon-delimited type:value selector; repeat for each selector" },
  { name: "x509SVIDTTL", type: "int", usage: "TTL in seconds of X509-SVIDs issued for this entry (0 = server default)", default: 0 },
  { name: "jwtSVIDTTL", type: "int", usage: "TTL in seconds of JWT-SVIDs issued for this entry (0 = server default)", default: 0 },
  { name: "dns", type: "string", repeatable: true, usage: "A DNS name to include in SVIDs of this entry; repeatable" },
  { name: "federatesWith", type: "string", repeatable: true, usage: "A trust domain this entry federates with; repeatable" },
  { name: "hint", type: "string", usage: "A hint for workloads to tell their identities apart (optional)" },
  { name: "admin", type: "bool", usage: "Grant the SPIFFE ID of this entry access to the admin API" },
  { name: "downstream", type: "bool", usage: "Mark the entry as describing a downstream SPIRE server" },
  { name: "storeSVID", type: "bool", usage: "Have the agent store the SVID in an SVIDStore plugin" },
  { name: "entryExpiry", type: "int", usage: "Unix time in seconds after which the entry no longer applies (0 = never)", default: 0 },
  { name: "node", type: "bool", usage: "Make a node alias entry: its parent is the server and its selectors match agents" },
];

const SHOW_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { name: "entryID", type: "string", usage: "The entry ID of the record to show" },
  { name: "spiffeID", type: "string", usage: "The SPIFFE ID of the records to show" },
  { name: "parentID", type: "string", usage: "The parent ID of the records to show" },
  { name: "selector", type: "string", repeatable: true, usage: "Show entries that have this type:value selector; repeatable" },
];

const DELETE_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { name: "entryID", type: "string", usage: "The registration entry ID of the record to delete" },
];

/** `entry create`: creates one entry from flags and prints it; AlreadyExists is an error. */
export function runEntryCreate(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server entry create", CREATE_FLAGS, args, io, async (flags) => {
    const node = flags.values.node === true;
    const spiffeId = stringFlag(flags, "spiffeID");
    const parentId = stringFlag(flags, "parentID");
    const selectors = stringListFlag(flags, "selector");
    if (spiffeId === "") throw new CliError("a SPIFFE ID is required");
    if (node && parentId !== "") throw new CliError("-node and -parentID cannot be combined: a node entry's parent is the server");
    if (!node && parentId === "") throw new CliError("a parent ID is required if the node flag is not set");
    if (selectors.length === 0) throw new CliError("at least one selector is required");

    const id = protoIdFromFlag(spiffeId, "-spiffeID");
    const entry: types.Entry = {
      id: stringFlag(flags, "entryID"),
      spiffe_id: id,
      parent_id: node ? { trust_domain: id.trust_domain, path: "/spire/server" } : protoIdFromFlag(parentId, "-parentID"),
      selectors: selectors.map(parseSelectorFlag),
      x509_svid_ttl: flags.values.x509SVIDTTL as number,
      jwt_svid_ttl: flags.values.jwtSVIDTTL as number,
      dns_names: stringListFlag(flags, "dns"),
      federates_with: stringListFlag(flags, "federatesWith").map(parseFederatedTrustDomain),
      hint: stringFlag(flags, "hint"),
      admin: flags.values.admin === true,
      downstream: flags.values.downstream === true,
      store_svid: flags.values.storeSVID === true,
      expires_at: flags.values.entryExpiry as number,
    };

    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const response = await admin.call<entryv1.BatchCreateEntryResponse__Output>((options, done) =>
        admin.entry.BatchCreateEntry({ entries: [entry] }, options, done),
      );
      const result = response.results[0];
      if (result === undefined) throw new CliError("the server returned no result for the entry");
      if (result.status !== null && result.status.code !== 0) {
        io.out(`Failed to create the following entry (code: ${goCodeName(result.status.code)}, msg: "${result.status.message}"):\n\n`);
        io.out(formatEntry(result.entry ?? { ...(entry as types.Entry__Output), revision_number: 0 }));
        throw new CliError("failed to create one or more entries");
      }
      io.out(formatEntry(result.entry as types.Entry__Output));
    } finally {
      admin.close();
    }
  });
}

/** `entry show`: prints one entry by ID, or the entries matching all given filters. */
export function runEntryShow(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server entry show", SHOW_FLAGS, args, io, async (flags) => {
    const entryId = stringFlag(flags, "entryID");
    const spiffeId = stringFlag(flags, "spiffeID");
    const parentId = stringFlag(flags, "parentID");
    const selectors = stringListFlag(flags, "selector").map(parseSelectorFlag);
    if (entryId !== "" && (spiffeId !== "" || parentId !== "" || selectors.length > 0)) {
      throw new CliError("the -entryID flag can't be combined with others");
    }

    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      let entries: types.Entry__Output[];
      if (entryId !== "") {
        entries = [await admin.call<types.Entry__Output>((options, done) => admin.entry.GetEntry({ id: entryId }, options, done))];
      } else {
        const filter: entryv1.ListEntriesRequestFilter = {};
        if (spiffeId !== "") filter.by_spiffe_id = protoIdFromFlag(spiffeId, "-spiffeID");
        if (parentId !== "") filter.by_parent_id = protoIdFromFlag(parentId, "-parentID");
        if (selectors.length > 0) filter.by_selectors = { selectors, match: "MATCH_SUPERSET" };
        const response = await admin.call<entryv1.ListEntriesResponse__Output>((options, done) =>
          admin.entry.ListEntries({ filter }, options, done),
        );
        entries = response.entries;
      }

      io.out(`Found ${entries.length} ${pluralize(entries.length, "entry", "entries")}\n`);
      for (const entry of entries) io.out(formatEntry(entry));
    } finally {
      admin.close();
    }
  });
}

/** `entry delete`: deletes one entry by ID. */
export function runEntryDelete(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server entry delete", DELETE_FLAGS, args, io, async (flags) => {
    const entryId = stringFlag(flags, "entryID");
    if (entryId === "") throw new CliError("an entry ID is required");

    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const response = await admin.call<entryv1.BatchDeleteEntryResponse__Output>((options, done) =>
        admin.entry.BatchDeleteEntry({ ids: [entryId] }, options, done),
      );
      const result = response.results[0];
      if (result?.status !== null && result?.status !== undefined && result.status.code !== 0) {
        throw new CliError(`failed to delete entry ${entryId}: ${result.status.message}`);
      }
      io.out(`Deleted entry with ID: ${entryId}\n`);
    } finally {
      admin.close();
    }
  });
}

function parseSelectorFlag(text: string): types.Selector {
  try {
    return parseSelector(text);
  } catch (error) {
    throw new CliError(`-selector: ${(error as Error).message}`);
  }
}

function parseFederatedTrustDomain(text: string): string {
  try {
    return parseTrustDomain(text);
  } catch (error) {
    throw new CliError(`-federatesWith: ${(error as Error).message}`);
  }
}
