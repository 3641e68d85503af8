import { generatedNotice } from "../generated-header.ts";
import type { GroupSpec, JsonSchema, ValueSpec } from "../model/value-spec.ts";

/**
 * values.schema.json (draft-07): every property described, `additionalProperties: false` on the
 * objects the chart owns (the top level included; `global` allowed for parent charts), the
 * leaves' own constraints as declared in the model.
 */
function schemaOf(spec: ValueSpec): JsonSchema {
  if (spec.kind === "leaf") return { description: spec.description, ...spec.schema, default: spec.default };
  return {
    type: "object",
    description: spec.description,
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(spec.children).map(([key, child]) => [key, schemaOf(child)])),
  };
}

export function valuesSchema(model: GroupSpec): JsonSchema {
  const root = schemaOf(model);
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $comment: generatedNotice("generator/chart/values-schema.ts", "generator/model/values-model.ts"),
    title: "azp-agent values",
    ...root,
    properties: {
      global: { type: "object", description: "Values shared with parent and sibling charts (unused by this chart)." },
      ...(root["properties"] as JsonSchema),
    },
  };
}
