// Message types of the protobuf well-known types that our messages use
// (google.protobuf), re-exported under readable names from the files that
// `npm run gen` writes to src/gen/. For each message `X`, `X` is the input shape
// (what a client call or a server callback accepts: fields optional, int64 as
// number | string | Long, bytes as Buffer | Uint8Array | string) and
// `X__Output` is the decoded shape (scalar defaults filled in, int64 as
// number, bytes as Buffer, a virtual property naming the set oneof member).
// Enums travel as their value names; the const of the same name lists them.
//
// The well-known types come from protobufjs's bundled definitions, whose
// field names are camelCase (Value.stringValue), except Any.type_url.

export type { Any, Any__Output } from "../gen/google/protobuf/Any.js";
export type { BoolValue, BoolValue__Output } from "../gen/google/protobuf/BoolValue.js";
export type { BytesValue, BytesValue__Output } from "../gen/google/protobuf/BytesValue.js";
export type { DoubleValue, DoubleValue__Output } from "../gen/google/protobuf/DoubleValue.js";
export type { Empty, Empty__Output } from "../gen/google/protobuf/Empty.js";
export type { FloatValue, FloatValue__Output } from "../gen/google/protobuf/FloatValue.js";
export type { Int32Value, Int32Value__Output } from "../gen/google/protobuf/Int32Value.js";
export type { Int64Value, Int64Value__Output } from "../gen/google/protobuf/Int64Value.js";
export type { ListValue, ListValue__Output } from "../gen/google/protobuf/ListValue.js";
export { NullValue } from "../gen/google/protobuf/NullValue.js";
export type { NullValue__Output } from "../gen/google/protobuf/NullValue.js";
export type { StringValue, StringValue__Output } from "../gen/google/protobuf/StringValue.js";
export type { Struct, Struct__Output } from "../gen/google/protobuf/Struct.js";
export type { UInt32Value, UInt32Value__Output } from "../gen/google/protobuf/UInt32Value.js";
export type { UInt64Value, UInt64Value__Output } from "../gen/google/protobuf/UInt64Value.js";
export type { Value, Value__Output } from "../gen/google/protobuf/Value.js";
export type { Status as RpcStatus, Status__Output as RpcStatus__Output } from "../gen/google/rpc/Status.js";
