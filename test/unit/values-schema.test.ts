import { describe, expect, it } from "vitest";
import { valuesSchema } from "../../generator/chart/values-schema.ts";
import { leaves, type GroupSpec, type JsonSchema } from "../../generator/model/value-spec.ts";
import { valuesModel } from "../../generator/model/values-model.ts";

type Schema = { [key: string]: unknown };
const isSchema = (value: unknown): value is Schema => typeof value === "object" && value !== null && !Array.isArray(value);

/** Every subschema, with a JSON-pointer-ish location, through every keyword that holds schemas. */
function* subschemas(schema: Schema, at = "#"): Generator<{ at: string; schema: Schema }> {
  yield { at, schema };
  for (const keyword of ["properties", "patternProperties", "definitions"]) {
    const map = schema[keyword];
    if (isSchema(map)) for (const [k, s] of Object.entries(map)) if (isSchema(s)) yield* subschemas(s, `${at}/${keyword}/${k}`);
  }
  for (const keyword of ["items", "additionalProperties", "propertyNames", "not", "if", "then", "else", "contains"]) {
    const s = schema[keyword];
    if (isSchema(s)) yield* subschemas(s, `${at}/${keyword}`);
  }
  for (const keyword of ["anyOf", "allOf", "oneOf"]) {
    const list = schema[keyword];
    if (Array.isArray(list)) for (const [i, s] of list.entries()) if (isSchema(s)) yield* subschemas(s, `${at}/${keyword}/${i}`);
  }
}

/** Schemas reachable from the root through `properties` only: the objects the chart itself owns. */
function* ownedObjects(schema: Schema, at = "#"): Generator<{ at: string; schema: Schema }> {
  if (isSchema(schema["properties"])) {
    yield { at, schema };
    for (const [k, s] of Object.entries(schema["properties"])) if (isSchema(s)) yield* ownedObjects(s, `${at}/properties/${k}`);
  }
}

describe("values.schema.json emitter", () => {
  const schema = valuesSchema(valuesModel) as Schema;

  it("should declare JSON Schema draft-07", () => {
    expect(schema["$schema"]).toBe("http://json-schema.org/draft-07/schema#");
  });

  it("should give every property, at any depth, a non-empty description", () => {
    // GIVEN every `properties` map anywhere in the schema (items and anyOf branches included)
    const undescribed: string[] = [];
    for (const { at, schema: s } of subschemas(schema)) {
      const props = s["properties"];
      if (!isSchema(props)) continue;
      for (const [key, prop] of Object.entries(props)) {
        // THEN each property says what it is
        if (!isSchema(prop) || typeof prop["description"] !== "string" || prop["description"].trim() === "") {
          undescribed.push(`${at}/properties/${key}`);
        }
      }
    }
    expect(undescribed).toEqual([]);
  });

  it("should close every object the chart owns with additionalProperties: false", () => {
    const open = [...ownedObjects(schema)].filter(({ schema: s }) => s["additionalProperties"] !== false).map(({ at }) => at);
    expect(open).toEqual([]);
  });

  it("should close every group of the values model (so a typo in a key fails)", () => {
    const walk = (group: GroupSpec, s: Schema, path: string): void => {
      expect(s["additionalProperties"], path || "(top level)").toBe(false);
      expect(Object.keys(s["properties"] as object), path).toEqual(expect.arrayContaining(Object.keys(group.children)));
      for (const [key, child] of Object.entries(group.children)) {
        if (child.kind === "group") walk(child, (s["properties"] as Record<string, Schema>)[key] as Schema, `${path}${key}.`);
      }
    };
    walk(valuesModel, schema, "");
  });

  it("should allow `global` at the top level, for parent charts", () => {
    const props = schema["properties"] as Record<string, Schema>;
    expect(props["global"]).toMatchObject({ type: "object" });
    expect(Object.keys(props)).toEqual(["global", ...Object.keys(valuesModel.children)]);
  });

  it("should carry every leaf's default, description and constraints from the model", () => {
    for (const [path, spec] of leaves(valuesModel)) {
      let node: Schema = schema;
      for (const key of path) node = (node["properties"] as Record<string, Schema>)[key] as Schema;
      expect(node, path.join(".")).toEqual({ description: spec.description, ...(spec.schema as JsonSchema), default: spec.default });
    }
  });
});
