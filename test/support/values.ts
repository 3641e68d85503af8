import { defaultValues } from "../../generator/chart/values-yaml.ts";
import type { JsonValue } from "../../generator/model/value-spec.ts";
import { valuesModel } from "../../generator/model/values-model.ts";
import { deepMerge } from "./merge.ts";

export type JsonObject = { [key: string]: JsonValue };

export const isJsonObject = (value: JsonValue | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Helm's coalescing of values files over the chart's values: maps merge key by key, `null`
 * removes a key, anything else (lists included) replaces. Used to hand ajv what Helm validates.
 */
export const mergeValues = (base: JsonObject, ...overrides: JsonObject[]): JsonObject => deepMerge(base, overrides, { nullRemoves: true });

/** The chart's defaults, from the values model (what values.yaml must contain). */
export const modelDefaults = (): JsonObject => defaultValues(valuesModel);
