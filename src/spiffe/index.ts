/** SPIFFE primitives shared by tessera-agent and tessera-server: IDs, selectors, X.509-SVIDs and bundles. */
export * from "./spiffe-id.js";
export * from "./trust-domain.js";
export * from "./selector.js";
export * from "./x509-svid.js";
export * from "./bundle.js";
