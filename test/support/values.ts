import { defaultValues } from "../../generator/chart/values-yaml.ts";
import type { JsonValue } from "../../generator/model/value-spec.ts";
import { valuesModel } from "../../generator/model/values-model.ts";

export type JsonObject = { [key: string]: JsonValue };

export const isJsonObject = (value: JsonValue | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Helm's coalescing of a values file over the chart's values: maps merge key by key, `null`
 * removes a key, anything else (lists included) replaces. Used to hand ajv what Helm validates.
 */
export function mergeValues(base: JsonObject, ...overrides: JsonObject[]): JsonObject {
  let result: JsonObject = structuredClone(base);
  for (const override of overrides) result = mergeTwo(result, override);
  return result;
}

function mergeTwo(base: JsonObject, override: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    if (value === null) delete out[key];
    else if (isJsonObject(value) && isJsonObject(current)) out[key] = mergeTwo(current, value);
    else out[key] = structuredClone(value);
  }
  return out;
}

/** The chart's defaults, from the values model (what values.yaml must contain). */
export const modelDefaults = (): JsonObject => defaultValues(valuesModel);

/** `{ a: { b: value } }` from `"a.b"`: builds a values override for one dotted key. */
export function valuesAt(dottedKey: string, value: JsonValue): JsonObject {
  return dottedKey
    .split(".")
    .reverse()
    .reduce<JsonValue>((inner, key) => ({ [key]: inner }), value) as JsonObject;
}
