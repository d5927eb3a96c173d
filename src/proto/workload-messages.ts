// Message types of the SPIFFE Workload API, re-exported under readable names
// from the files that `npm run gen` writes to src/gen/. For each message `X`,
// `X` is the input shape (what a client call or a server callback accepts:
// fields optional, int64 as number | string | Long, bytes as Buffer |
// Uint8Array | string) and `X__Output` is the decoded shape (scalar defaults
// filled in, int64 as number, bytes as Buffer, a virtual property naming the
// set oneof member). Enums travel as their value names; the const of the same
// name lists them.

export type { JWTBundlesRequest, JWTBundlesRequest__Output } from "../gen/JWTBundlesRequest.js";
export type { JWTBundlesResponse, JWTBundlesResponse__Output } from "../gen/JWTBundlesResponse.js";
export type { JWTSVID, JWTSVID__Output } from "../gen/JWTSVID.js";
export type { JWTSVIDRequest, JWTSVIDRequest__Output } from "../gen/JWTSVIDRequest.js";
export type { JWTSVIDResponse, JWTSVIDResponse__Output } from "../gen/JWTSVIDResponse.js";
export type {
  ValidateJWTSVIDRequest,
  ValidateJWTSVIDRequest__Output,
} from "../gen/ValidateJWTSVIDRequest.js";
export type {
  ValidateJWTSVIDResponse,
  ValidateJWTSVIDResponse__Output,
} from "../gen/ValidateJWTSVIDResponse.js";
export type { WITBundlesRequest, WITBundlesRequest__Output } from "../gen/WITBundlesRequest.js";
export type { WITBundlesResponse, WITBundlesResponse__Output } from "../gen/WITBundlesResponse.js";
export type { WITSVID, WITSVID__Output } from "../gen/WITSVID.js";
export type { WITSVIDRequest, WITSVIDRequest__Output } from "../gen/WITSVIDRequest.js";
export type { WITSVIDResponse, WITSVIDResponse__Output } from "../gen/WITSVIDResponse.js";
export type { X509BundlesRequest, X509BundlesRequest__Output } from "../gen/X509BundlesRequest.js";
export type { X509BundlesResponse, X509BundlesResponse__Output } from "../gen/X509BundlesResponse.js";
export type { X509SVID, X509SVID__Output } from "../gen/X509SVID.js";
export type { X509SVIDRequest, X509SVIDRequest__Output } from "../gen/X509SVIDRequest.js";
export type { X509SVIDResponse, X509SVIDResponse__Output } from "../gen/X509SVIDResponse.js";
