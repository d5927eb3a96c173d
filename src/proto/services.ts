// Typed gRPC service definitions and client constructors for every service
// in proto/. Importing this module parses the .proto files (once per process).
//
// Each service has three exports:
//   - `xxxService`: the grpc-js ServiceDefinition, for `server.addService`.
//   - `XxxClient`: the client constructor, `new XxxClient(target, credentials)`;
//     the same name is also the type of the client instance.
//   - `XxxHandlers`: the type of the implementation object for addService.

import type { SpiffeWorkloadAPIClient, SpiffeWorkloadAPIDefinition, SpiffeWorkloadAPIHandlers } from "../gen/SpiffeWorkloadAPI.js";
import type { HealthClient as GenHealthClient, HealthDefinition, HealthHandlers as GenHealthHandlers } from "../gen/grpc/health/v1/Health.js";
import type { AgentClient as GenAgentClient, AgentDefinition, AgentHandlers as GenAgentHandlers } from "../gen/spire/api/server/agent/v1/Agent.js";
import type { BundleClient as GenBundleClient, BundleDefinition, BundleHandlers as GenBundleHandlers } from "../gen/spire/api/server/bundle/v1/Bundle.js";
import type { EntryClient as GenEntryClient, EntryDefinition, EntryHandlers as GenEntryHandlers } from "../gen/spire/api/server/entry/v1/Entry.js";
import type { SVIDClient, SVIDDefinition, SVIDHandlers } from "../gen/spire/api/server/svid/v1/SVID.js";
import type { DebugClient as GenDebugClient, DebugDefinition, DebugHandlers as GenDebugHandlers } from "../gen/spire/agent/debug/v1/Debug.js";
import type { LoggerClient as GenLoggerClient, LoggerDefinition, LoggerHandlers as GenLoggerHandlers } from "../gen/spire/api/agent/logger/v1/Logger.js";
import { loadProtoDescriptor } from "./load.js";

const descriptor = loadProtoDescriptor();
const serverV1 = descriptor.spire.api.server;

/** Workload API (`/SpiffeWorkloadAPI/*`, no proto package). */
export const workloadApiService: SpiffeWorkloadAPIDefinition = descriptor.SpiffeWorkloadAPI.service;
/** Workload API client constructor. Callers must add the `workload.spiffe.io: true` metadata to every call. */
export const WorkloadApiClient = descriptor.SpiffeWorkloadAPI;
/** Workload API client instance. */
export type WorkloadApiClient = SpiffeWorkloadAPIClient;
/** Workload API server implementation. */
export type WorkloadApiHandlers = SpiffeWorkloadAPIHandlers;

/** `spire.api.server.agent.v1.Agent`: attestation, renewal, agent admin. */
export const agentService: AgentDefinition = serverV1.agent.v1.Agent.service;
/** Agent service client constructor. */
export const AgentClient = serverV1.agent.v1.Agent;
/** Agent service client instance. */
export type AgentClient = GenAgentClient;
/** Agent service server implementation. */
export type AgentHandlers = GenAgentHandlers;

/** `spire.api.server.svid.v1.SVID`: X.509, JWT and WIT SVID signing. */
export const svidService: SVIDDefinition = serverV1.svid.v1.SVID.service;
/** SVID service client constructor. */
export const SvidClient = serverV1.svid.v1.SVID;
/** SVID service client instance. */
export type SvidClient = SVIDClient;
/** SVID service server implementation. */
export type SvidHandlers = SVIDHandlers;

/** `spire.api.server.entry.v1.Entry`: registration entries and agent entry sync. */
export const entryService: EntryDefinition = serverV1.entry.v1.Entry.service;
/** Entry service client constructor. */
export const EntryClient = serverV1.entry.v1.Entry;
/** Entry service client instance. */
export type EntryClient = GenEntryClient;
/** Entry service server implementation. */
export type EntryHandlers = GenEntryHandlers;

/** `spire.api.server.bundle.v1.Bundle`: own and federated trust bundles. */
export const bundleService: BundleDefinition = serverV1.bundle.v1.Bundle.service;
/** Bundle service client constructor. */
export const BundleClient = serverV1.bundle.v1.Bundle;
/** Bundle service client instance. */
export type BundleClient = GenBundleClient;
/** Bundle service server implementation. */
export type BundleHandlers = GenBundleHandlers;

/** `grpc.health.v1.Health`: standard gRPC health checking. */
export const healthService: HealthDefinition = descriptor.grpc.health.v1.Health.service;
/** Health client constructor. */
export const HealthClient = descriptor.grpc.health.v1.Health;
/** Health client instance. */
export type HealthClient = GenHealthClient;
/** Health server implementation. */
export type HealthHandlers = GenHealthHandlers;

/** `spire.agent.debug.v1.Debug`: agent state for troubleshooting, on the admin socket. The package has no "api" element. */
export const debugService: DebugDefinition = descriptor.spire.agent.debug.v1.Debug.service;
/** Debug client constructor. */
export const DebugClient = descriptor.spire.agent.debug.v1.Debug;
/** Debug client instance. */
export type DebugClient = GenDebugClient;
/** Debug server implementation. */
export type DebugHandlers = GenDebugHandlers;

/** `spire.api.agent.logger.v1.Logger`: read and change the agent's log level, on the admin socket. */
export const loggerService: LoggerDefinition = descriptor.spire.api.agent.logger.v1.Logger.service;
/** Logger client constructor. */
export const LoggerClient = descriptor.spire.api.agent.logger.v1.Logger;
/** Logger client instance. */
export type LoggerClient = GenLoggerClient;
/** Logger server implementation. */
export type LoggerHandlers = GenLoggerHandlers;
