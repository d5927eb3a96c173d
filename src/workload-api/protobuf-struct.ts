import type { wellknown } from "../proto/index.js";

/**
 * Converts a parsed JSON object into a `google.protobuf.Struct`. The well-known types
 * load with camelCase field names (`stringValue`, `listValue`), unlike our own messages.
 * JSON numbers become `numberValue` doubles, as in protobuf's JSON mapping.
 */
export function toProtobufStruct(object: Record<string, unknown>): wellknown.Struct {
  const fields: Record<string, wellknown.Value> = {};
  for (const [name, value] of Object.entries(object)) {
    fields[name] = toProtobufValue(value);
  }
  return { fields };
}

function toProtobufValue(value: unknown): wellknown.Value {
  if (value === null || value === undefined) {
    return { nullValue: "NULL_VALUE" };
  }
  if (typeof value === "number") {
    return { numberValue: value };
  }
  if (typeof value === "string") {
    return { stringValue: value };
  }
  if (typeof value === "boolean") {
    return { boolValue: value };
  }
  if (Array.isArray(value)) {
    return { listValue: { values: value.map(toProtobufValue) } };
  }
  if (typeof value === "object") {
    return { structValue: toProtobufStruct(value as Record<string, unknown>) };
  }
  throw new Error(`a JSON claim cannot have type ${typeof value}`);
}

/** Converts a decoded `google.protobuf.Struct` back into a plain JSON object, for clients. */
export function fromProtobufStruct(struct: wellknown.Struct__Output | null | undefined): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(struct?.fields ?? {})) {
    object[name] = fromProtobufValue(value);
  }
  return object;
}

function fromProtobufValue(value: wellknown.Value__Output): unknown {
  switch (value.kind) {
    case "numberValue":
      return value.numberValue;
    case "stringValue":
      return value.stringValue;
    case "boolValue":
      return value.boolValue;
    case "listValue":
      return (value.listValue?.values ?? []).map(fromProtobufValue);
    case "structValue":
      return fromProtobufStruct(value.structValue);
    default:
      return null;
  }
}
