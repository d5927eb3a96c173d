import { status } from "@grpc/grpc-js";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { EntryHandlers, entryv1, types } from "../../proto/index.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import { fetchAuthorizedEntries } from "../authorization/authorized-entries.js";
import type { CallAuthorizer } from "../authorization/call-authorizer.js";
import { EntryIdTakenError, EntryNotFoundError, FederatedBundleNotFoundError } from "../datastore/entry-store.js";
import type { EntryFilter, RegistrationEntry } from "../datastore/types.js";
import { rpcError } from "../endpoints/rpc-error.js";
import { invalidArgument, toRpcError, unary, validating } from "./handler.js";
import { paginate } from "./pagination.js";
import {
  applyEntryMask,
  entryFromProto,
  entryToProto,
  idFromProto,
  requireMember,
  requireWorkloadId,
  selectorMatchFromProto,
  selectorsFromProto,
} from "./proto-convert.js";
import type { ServerContext } from "./server-context.js";
import { createStreamReader, writeMessage } from "./stream-reader.js";

type SyncStream = ServerDuplexStream<entryv1.SyncAuthorizedEntriesRequest__Output, entryv1.SyncAuthorizedEntriesResponse>;

/**
 * Implements `spire.api.server.entry.v1.Entry`: entry administration for local admins and
 * the authorized-entry RPCs agents sync with.
 */
export function createEntryService(context: ServerContext, authorizer: CallAuthorizer): EntryHandlers {
  const log = context.logger.child({ subsystem: "entry_api" });
  const { datastore, trustDomain } = context;

  function authorizedEntries(agentId: string): types.Entry__Output[] {
    return fetchAuthorizedEntries(datastore, trustDomain, agentId, context.now()).map(entryToProto);
  }

  function listFilter(filter: entryv1.ListEntriesRequestFilter__Output | null): {
    store: EntryFilter;
    matches: (entry: RegistrationEntry) => boolean;
  } {
    const store: EntryFilter = {};
    if (filter === null) return { store, matches: () => true };

    if (filter.by_spiffe_id !== null) {
      store.bySpiffeId = validating("malformed SPIFFE ID filter", () => {
        const id = idFromProto(filter.by_spiffe_id, "SPIFFE ID");
        requireWorkloadId(id, trustDomain, "SPIFFE ID");
        return id;
      });
    }
    if (filter.by_parent_id !== null) {
      store.byParentId = validating("malformed parent ID filter", () => {
        const id = idFromProto(filter.by_parent_id, "parent ID");
        requireMember(id, trustDomain, "parent ID");
        return id;
      });
    }
    const bySelectors = filter.by_selectors;
    if (bySelectors !== null) {
      const selectors = validating("malformed selectors filter", () => selectorsFromProto(bySelectors.selectors));
      if (selectors.length === 0) invalidArgument("malformed selectors filter: empty selector set");
      store.bySelectors = { selectors, match: selectorMatchFromProto(bySelectors.match) };
    }
    if (filter.by_hint !== null) store.byHint = filter.by_hint.value;

    const byFederatesWith = filter.by_federates_with;
    const federatesWith =
      byFederatesWith === null
        ? undefined
        : validating("malformed federates with filter", () => byFederatesWith.trust_domains.map(parseTrustDomain));
    if (federatesWith !== undefined && federatesWith.length === 0) {
      invalidArgument("malformed federates with filter: empty trust domain set");
    }
    const downstream = filter.by_downstream?.value;

    const matches = (entry: RegistrationEntry): boolean => {
      if (downstream !== undefined && entry.downstream !== downstream) return false;
      if (federatesWith !== undefined && byFederatesWith !== null) {
        const entrySet = new Set(entry.federatesWith);
        const wanted = new Set(federatesWith);
        switch (byFederatesWith.match) {
          case "MATCH_EXACT":
            return entrySet.size === wanted.size && [...wanted].every((td) => entrySet.has(td));
          case "MATCH_SUBSET":
            return entrySet.size > 0 && [...entrySet].every((td) => wanted.has(td));
          case "MATCH_SUPERSET":
            return [...wanted].every((td) => entrySet.has(td));
          case "MATCH_ANY":
            return [...wanted].some((td) => entrySet.has(td));
        }
      }
      return true;
    };
    return { store, matches };
  }

  function createEntry(input: types.Entry__Output, mask: types.EntryMask__Output | null): entryv1.BatchCreateEntryResponseResult {
    let converted;
    try {
      converted = entryFromProto(input, trustDomain);
    } catch (error) {
      return { status: { code: status.INVALID_ARGUMENT, message: `failed to convert entry: ${(error as Error).message}` }, entry: null };
    }

    try {
      const { entry, existing } = datastore.entries.createOrReturn(converted, context.now());
      if (existing) {
        return { status: { code: status.ALREADY_EXISTS, message: "similar entry already exists" }, entry: applyEntryMask(entryToProto(entry), mask) };
      }
      log.info({ entry_id: entry.id, spiffe_id: entry.spiffeId, parent_id: entry.parentId }, "Entry created");
      return { status: { code: status.OK, message: "OK" }, entry: applyEntryMask(entryToProto(entry), mask) };
    } catch (error) {
      const message = `failed to create entry: ${(error as Error).message}`;
      if (error instanceof EntryIdTakenError) return { status: { code: status.ALREADY_EXISTS, message }, entry: null };
      if (error instanceof FederatedBundleNotFoundError) {
        // SPIRE returns Internal here as well, because its datastore error carries no code.
        log.info({ spiffe_id: converted.spiffeId, federates_with: converted.federatesWith, error: message }, "Failed to create entry");
        return { status: { code: status.INTERNAL, message }, entry: null };
      }
      log.error({ err: error }, "Failed to create entry");
      return { status: { code: status.INTERNAL, message }, entry: null };
    }
  }

  function updateEntry(
    input: types.Entry__Output,
    inputMask: types.EntryMask__Output | null,
    outputMask: types.EntryMask__Output | null,
  ): entryv1.BatchUpdateEntryResponseResult {
    const current = datastore.entries.get(input.id);
    if (current === undefined) {
      return { status: { code: status.NOT_FOUND, message: `failed to update entry: entry "${input.id}" not found` }, entry: null };
    }

    // Fields outside the input mask keep their stored values. The merged entry is then
    // validated as a whole, so a partial update cannot leave an invalid entry behind.
    const merged = { ...entryToProto(current) };
    const replaced = inputMask === null ? input : pickMasked(input, inputMask);
    Object.assign(merged, replaced, { id: current.id });

    let converted;
    try {
      converted = entryFromProto(merged, trustDomain);
    } catch (error) {
      return { status: { code: status.INVALID_ARGUMENT, message: `failed to convert entry: ${(error as Error).message}` }, entry: null };
    }
    let updated;
    try {
      updated = datastore.entries.update(current.id, converted);
    } catch (error) {
      const message = `failed to update entry: ${(error as Error).message}`;
      if (error instanceof FederatedBundleNotFoundError) {
        log.info({ entry_id: current.id, federates_with: converted.federatesWith, error: message }, "Failed to update entry");
      } else {
        log.error({ entry_id: current.id, err: error }, "Failed to update entry");
      }
      return { status: { code: status.INTERNAL, message }, entry: null };
    }
    log.info({ entry_id: updated.id, revision_number: updated.revisionNumber }, "Entry updated");
    return { status: { code: status.OK, message: "OK" }, entry: applyEntryMask(entryToProto(updated), outputMask) };
  }

  function deleteEntry(id: string): entryv1.BatchDeleteEntryResponseResult {
    if (id === "") return { id, status: { code: status.INVALID_ARGUMENT, message: "missing entry ID" } };
    try {
      datastore.entries.delete(id);
    } catch (error) {
      if (error instanceof EntryNotFoundError) return { id, status: { code: status.NOT_FOUND, message: "entry not found" } };
      log.error({ entry_id: id, err: error }, "Failed to delete entry");
      return { id, status: { code: status.INTERNAL, message: `failed to delete entry: ${(error as Error).message}` } };
    }
    log.info({ entry_id: id }, "Entry deleted");
    return { id, status: { code: status.OK, message: "OK" } };
  }

  async function syncAuthorizedEntries(call: SyncStream): Promise<void> {
    const reader = createStreamReader<entryv1.SyncAuthorizedEntriesRequest__Output>(call);
    const agentId = authorizer.agent(call);

    const first = await reader.next();
    if (first === undefined) return;
    if (first.ids.length > 0) invalidArgument("specifying IDs on initial request is not supported");
    const mask = first.output_mask;
    if (mask !== null && !mask.revision_number) invalidArgument("revision number cannot be masked");

    const entries = authorizedEntries(agentId).map((entry) => applyEntryMask(entry, mask));
    const pageSize = context.syncPageSize;

    // Small sets go whole in one response. Larger ones go as revision pages, after which the
    // agent requests only the entries it lacks or holds at an older revision.
    if (entries.length <= pageSize) {
      await writeMessage(call, { entries, entry_revisions: [], more: false });
      return;
    }

    for (let start = 0; start < entries.length; start += pageSize) {
      const page = entries.slice(start, start + pageSize).map((entry) => ({
        id: entry.id,
        revision_number: entry.revision_number,
        created_at: entry.created_at,
      }));
      await writeMessage(call, { entry_revisions: page, entries: [], more: start + pageSize < entries.length });
    }

    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    for (;;) {
      const request = await reader.next();
      if (request === undefined) return;

      // Unknown IDs are skipped silently, as SPIRE does: the entry may have been deleted
      // between the revision pages and this request.
      const requested = [...request.ids].sort().flatMap((id) => {
        const entry = byId.get(id);
        return entry === undefined ? [] : [entry];
      });
      for (let start = pageSize; start < requested.length; start += pageSize) {
        await writeMessage(call, { entries: requested.slice(start - pageSize, start), entry_revisions: [], more: true });
      }
      const lastStart = requested.length === 0 ? 0 : Math.floor((requested.length - 1) / pageSize) * pageSize;
      await writeMessage(call, { entries: requested.slice(lastStart), entry_revisions: [], more: false });
    }
  }

  return {
    CountEntries: unary(log, "CountEntries", (call) => {
      authorizer.admin(call);
      return { count: datastore.entries.count() };
    }),

    ListEntries: unary(log, "ListEntries", (call) => {
      authorizer.admin(call);
      const { filter, output_mask: mask, page_size: pageSize, page_token: pageToken } = call.request;
      const { store, matches } = listFilter(filter);
      const entries = datastore.entries.list(store).filter(matches);
      const page = validating("invalid request", () => paginate(entries, pageSize, pageToken));
      return {
        entries: page.items.map((entry) => applyEntryMask(entryToProto(entry), mask)),
        next_page_token: page.nextPageToken,
      };
    }),

    GetEntry: unary(log, "GetEntry", (call) => {
      authorizer.admin(call);
      if (call.request.id === "") invalidArgument("missing ID");
      const entry = datastore.entries.get(call.request.id);
      if (entry === undefined) throw rpcError(status.NOT_FOUND, "entry not found");
      return applyEntryMask(entryToProto(entry), call.request.output_mask);
    }),

    BatchCreateEntry: unary(log, "BatchCreateEntry", (call) => {
      authorizer.admin(call);
      return { results: call.request.entries.map((entry) => createEntry(entry, call.request.output_mask)) };
    }),

    BatchUpdateEntry: unary(log, "BatchUpdateEntry", (call) => {
      authorizer.admin(call);
      const { entries, input_mask: inputMask, output_mask: outputMask } = call.request;
      return { results: entries.map((entry) => updateEntry(entry, inputMask, outputMask)) };
    }),

    BatchDeleteEntry: unary(log, "BatchDeleteEntry", (call) => {
      authorizer.admin(call);
      return { results: call.request.ids.map(deleteEntry) };
    }),

    GetAuthorizedEntries: unary(log, "GetAuthorizedEntries", (call) => {
      const agentId = authorizer.agent(call);
      return { entries: authorizedEntries(agentId).map((entry) => applyEntryMask(entry, call.request.output_mask)) };
    }),

    SyncAuthorizedEntries(call: SyncStream) {
      syncAuthorizedEntries(call).then(
        () => call.end(),
        (error: unknown) => call.emit("error", toRpcError(log, "SyncAuthorizedEntries", error)),
      );
    },
  };
}

function pickMasked(entry: types.Entry__Output, mask: types.EntryMask__Output): Partial<types.Entry__Output> {
  const picked: Partial<types.Entry__Output> = {};
  for (const field of Object.keys(mask) as (keyof types.EntryMask__Output)[]) {
    if (mask[field]) (picked as Record<string, unknown>)[field] = entry[field];
  }
  return picked;
}
