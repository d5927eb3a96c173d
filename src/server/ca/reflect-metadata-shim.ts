/**
 * Minimal `Reflect.getMetadata` / `getOwnMetadata` / `defineMetadata` for tsyringe, which
 * @peculiar/x509 2.2 loads and which throws at import time when these are missing.
 *
 * NOTE: the project has no `reflect-metadata` package yet. When one is installed and loaded
 * first, `Reflect.getMetadata` exists and this shim changes nothing. Only the three calls tsyringe
 * 4.10 makes are provided (no decorators, no property keys).
 */
type MetadataTable = Map<unknown, unknown>;

interface ReflectWithMetadata {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

const reflect = Reflect as unknown as ReflectWithMetadata;

if (typeof reflect.getMetadata !== "function") {
  const tables = new WeakMap<object, MetadataTable>();

  reflect.defineMetadata = (key, value, target) => {
    let table = tables.get(target);
    if (table === undefined) {
      table = new Map();
      tables.set(target, table);
    }
    table.set(key, value);
  };

  reflect.getOwnMetadata = (key, target) => tables.get(target)?.get(key);

  reflect.getMetadata = (key, target) => {
    // Metadata is inherited along the prototype chain, as in the reflect-metadata proposal.
    for (let current: object | null = target; current !== null; current = Object.getPrototypeOf(current) as object | null) {
      const table = tables.get(current);
      if (table?.has(key)) return table.get(key);
    }
    return undefined;
  };
}

export {};
