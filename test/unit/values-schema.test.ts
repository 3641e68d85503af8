import { describe, expect, it } from "vitest";
import { valuesSchema } from "../../generator/chart/values-schema.ts";
import { leaves, type GroupSpec } from "../../generator/model/value-spec.ts";
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

  it("should give every leaf of the model a description and a default", () => {
    for (const [path] of leaves(valuesModel)) {
      const node = schemaAt(schema, path);
      expect(typeof node["description"], path.join(".")).toBe("string");
      expect(node, path.join(".")).toHaveProperty("default");
    }
  });

  // Whole entries, as a reader of values.schema.json sees them: one per kind of leaf.
  const quantity = { anyOf: [{ type: "string", pattern: "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$" }, { type: "number", minimum: 0 }] };
  const resourceProperties = {
    limits: { type: "object", description: "Resource limits.", additionalProperties: quantity },
    requests: { type: "object", description: "Resource requests.", additionalProperties: quantity },
  };
  it.each<{ key: string; entry: Schema }>([
    {
      key: "replicaCount",
      entry: { description: "Number of idle agents kept ready. Each runs one job, then its pod is replaced.", type: "integer", minimum: 0, maximum: 1000, default: 3 },
    },
    { key: "azp.pool", entry: { description: "Name of the existing agent pool the agents register in.", type: "string", minLength: 1, default: "Default" } },
    { key: "image.pullPolicy", entry: { description: "Image pull policy.", type: "string", enum: ["Always", "IfNotPresent", "Never"], default: "IfNotPresent" } },
    { key: "gc.dryRun", entry: { description: "Log what would be removed, remove nothing.", type: "boolean", default: false } },
    {
      key: "agent.capabilities",
      entry: {
        description: "User capabilities: environment variables of the agent, which it reports as capabilities that pipeline `demands` can match.",
        type: "object",
        additionalProperties: false,
        patternProperties: { "^[A-Za-z_][A-Za-z0-9_]*$": { type: "string" } },
        default: {},
      },
    },
    {
      key: "networkPolicy.metadataAddresses",
      entry: {
        description:
          "Cloud metadata and host-agent addresses no pod of the release may reach (Azure's instance metadata service and WireServer; the same link-local address on AWS and GCP).",
        type: "array",
        items: { type: "string", pattern: "^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$" },
        default: ["169.254.169.254", "168.63.129.16"],
      },
    },
    {
      key: "registrationResources",
      entry: {
        description:
          "Resources of the containers that register and remove agents: register and deregister in every agent pod, the placeholder hooks (autoscaling) and the `helm test` pod.",
        type: "object",
        additionalProperties: false,
        properties: resourceProperties,
        default: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
      },
    },
    {
      // The old name, accepted for one more release.
      key: "registrarResources",
      entry: {
        description:
          "Deprecated: use `registrationResources` (the same setting, renamed). When set, it is still used instead, for one more release; helm install and upgrade print a warning.",
        type: "object",
        additionalProperties: false,
        properties: resourceProperties,
        default: {},
      },
    },
  ])("should describe $key with its type, constraints and default", ({ key, entry }) => {
    expect(schemaAt(schema, key.split("."))).toEqual(entry);
  });
});

/** The schema of a key, through `properties`. */
function schemaAt(root: Schema, path: readonly string[]): Schema {
  let node: Schema = root;
  for (const key of path) node = (node["properties"] as Record<string, Schema>)[key] as Schema;
  return node;
}
