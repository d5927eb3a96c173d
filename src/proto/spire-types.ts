// Message types of the shared SPIRE API types (package spire.api.types),
// re-exported under readable names from the files that `npm run gen` writes to
// src/gen/. For each message `X`, `X` is the input shape (what a client call
// or a server callback accepts: fields optional, int64 as number | string |
// Long, bytes as Buffer | Uint8Array | string) and `X__Output` is the decoded
// shape (scalar defaults filled in, int64 as number, bytes as Buffer, a
// virtual property naming the set oneof member). Enums travel as their value
// names; the const of the same name lists them.

export type { Agent, Agent__Output } from "../gen/spire/api/types/Agent.js";
export type { AgentMask, AgentMask__Output } from "../gen/spire/api/types/AgentMask.js";
export type { AttestationData, AttestationData__Output } from "../gen/spire/api/types/AttestationData.js";
export type { Bundle, Bundle__Output } from "../gen/spire/api/types/Bundle.js";
export type { BundleMask, BundleMask__Output } from "../gen/spire/api/types/BundleMask.js";
export type {
  _spire_api_types_Entry_AdditionalAttributes as EntryAdditionalAttributes,
  _spire_api_types_Entry_AdditionalAttributes__Output as EntryAdditionalAttributes__Output,
  Entry,
  Entry__Output,
} from "../gen/spire/api/types/Entry.js";
export type { EntryMask, EntryMask__Output } from "../gen/spire/api/types/EntryMask.js";
export { _spire_api_types_FederatesWithMatch_MatchBehavior as FederatesWithMatchBehavior } from "../gen/spire/api/types/FederatesWithMatch.js";
export type {
  _spire_api_types_FederatesWithMatch_MatchBehavior__Output as FederatesWithMatchBehavior__Output,
  FederatesWithMatch,
  FederatesWithMatch__Output,
} from "../gen/spire/api/types/FederatesWithMatch.js";
export type { JWTKey, JWTKey__Output } from "../gen/spire/api/types/JWTKey.js";
export type { JWTSVID, JWTSVID__Output } from "../gen/spire/api/types/JWTSVID.js";
export type { JoinToken, JoinToken__Output } from "../gen/spire/api/types/JoinToken.js";
export { _spire_api_types_PermissionDeniedDetails_Reason as PermissionDeniedDetailsReason } from "../gen/spire/api/types/PermissionDeniedDetails.js";
export type {
  _spire_api_types_PermissionDeniedDetails_Reason__Output as PermissionDeniedDetailsReason__Output,
  PermissionDeniedDetails,
  PermissionDeniedDetails__Output,
} from "../gen/spire/api/types/PermissionDeniedDetails.js";
export type { SPIFFEID, SPIFFEID__Output } from "../gen/spire/api/types/SPIFFEID.js";
export type { Selector, Selector__Output } from "../gen/spire/api/types/Selector.js";
export { _spire_api_types_SelectorMatch_MatchBehavior as SelectorMatchBehavior } from "../gen/spire/api/types/SelectorMatch.js";
export type {
  _spire_api_types_SelectorMatch_MatchBehavior__Output as SelectorMatchBehavior__Output,
  SelectorMatch,
  SelectorMatch__Output,
} from "../gen/spire/api/types/SelectorMatch.js";
export type { Status, Status__Output } from "../gen/spire/api/types/Status.js";
export type { WITKey, WITKey__Output } from "../gen/spire/api/types/WITKey.js";
export type { WITSVID, WITSVID__Output } from "../gen/spire/api/types/WITSVID.js";
export type { X509Certificate, X509Certificate__Output } from "../gen/spire/api/types/X509Certificate.js";
export type { X509SVID, X509SVID__Output } from "../gen/spire/api/types/X509SVID.js";
