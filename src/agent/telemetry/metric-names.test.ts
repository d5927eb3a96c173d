import { status as Status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";

import { errorStatusName, grpcStatusName, metricKeyPart, prometheusName, rpcMetricKey } from "./metric-names.js";

describe("metricKeyPart", () => {
  it.each([
    ["One", "one"],
    ["one,two,three,Four", "one_two_three_four"],
    ["ABCDef", "abc_def"],
    ["v1", "v1"],
    ["AbcDEF", "abc_def"],
    ["OneTWOThree", "one_two_three"],
    ["ONETwoTHREE", "one_two_three"],
    ["FetchX509SVID", "fetch_x509svid"],
    ["FetchX509Bundles", "fetch_x509_bundles"],
    ["FetchJWTSVIDs", "fetch_jwtsvi_ds"],
  ])("converts %s to %s", (input, expected) => {
    expect(metricKeyPart(input)).toBe(expected);
  });
});

describe("rpcMetricKey", () => {
  it.each([
    ["/SpiffeWorkloadAPI/FetchX509SVID", ["rpc", "workload_api", "fetch_x509svid"]],
    ["/SpiffeWorkloadAPI/FetchX509Bundles", ["rpc", "workload_api", "fetch_x509_bundles"]],
    ["/SpiffeWorkloadAPI/FetchJWTSVID", ["rpc", "workload_api", "fetch_jwtsvid"]],
    ["/SpiffeWorkloadAPI/FetchJWTBundles", ["rpc", "workload_api", "fetch_jwt_bundles"]],
    ["/SpiffeWorkloadAPI/ValidateJWTSVID", ["rpc", "workload_api", "validate_jwtsvid"]],
    ["/grpc.health.v1.Health/Check", ["rpc", "health", "check"]],
    ["/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets", ["rpc", "sds", "v3", "stream_secrets"]],
    ["/spire.api.agent.delegatedidentity.v1.DelegatedIdentity/SubscribeToX509SVIDs", ["rpc", "delegated_identity", "subscribe_to_x509_svids"]],
  ])("names %s as SPIRE does", (path, expected) => {
    expect(rpcMetricKey(path)).toEqual(expected);
  });
});

describe("prometheusName", () => {
  it("joins the prefix and key with underscores", () => {
    expect(prometheusName("spire_agent", ["rpc", "workload_api", "fetch_x509svid"])).toBe("spire_agent_rpc_workload_api_fetch_x509svid");
  });

  it("replaces characters Prometheus names cannot hold", () => {
    expect(prometheusName("my.agent", ["a-b", "c/d", "e=f g"])).toBe("my_agent_a_b_c_d_e_f_g");
  });
});

describe("status names", () => {
  it("spells gRPC codes as Go does", () => {
    expect(grpcStatusName(Status.OK)).toBe("OK");
    expect(grpcStatusName(Status.CANCELLED)).toBe("Canceled");
    expect(grpcStatusName(Status.PERMISSION_DENIED)).toBe("PermissionDenied");
    expect(grpcStatusName(Status.UNAVAILABLE)).toBe("Unavailable");
    expect(grpcStatusName(99)).toBe("Unknown");
  });

  it("reads the gRPC code of an error or its cause", () => {
    const grpcError = Object.assign(new Error("unavailable"), { code: Status.UNAVAILABLE });

    expect(errorStatusName(undefined)).toBe("OK");
    expect(errorStatusName(grpcError)).toBe("Unavailable");
    expect(errorStatusName(new Error("failed to sync", { cause: grpcError }))).toBe("Unavailable");
    expect(errorStatusName(new Error("plain failure"))).toBe("Unknown");
    expect(errorStatusName(Object.assign(new Error("system error"), { code: "ECONNREFUSED" }))).toBe("Unknown");
  });
});
