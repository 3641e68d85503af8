// Validates the fake's JSON bodies against the official REST spec
// (MicrosoftDocs/vsts-rest-api-specs distributedTask/7.1/taskAgent.json, a swagger 2.0 document):
// its `definitions` become JSON Schema (draft-07) for ajv. Where the wire knowingly differs from
// the swagger (contract §1.4), the difference is listed in WIRE_DIFFERENCES and applied explicitly.
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";

/** Definitions the fake emits and the tests validate. */
export type SpecDefinition =
  | "TaskAgentPool"
  | "TaskAgent"
  | "TaskAgentReference"
  | "TaskAgentJobRequest"
  | "TaskAgentSession"
  | "TaskAgentMessage"
  | "PackageMetadata"
  | "TaskLog";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface SwaggerDocument {
  swagger: string;
  definitions: Record<string, JsonObject>;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SPEC_ID = "https://fake-ado.invalid/taskAgent-7.1.json";

/**
 * `<repo>/../shared/ado-spec/taskAgent-7.1.json` (the shared folder beside the checkout); CI
 * relocates that folder, so ADO_SPEC is the fallback when the computed path does not exist.
 */
export function adoSpecPath(): string {
  const computed = resolve(REPO_ROOT, "../shared/ado-spec/taskAgent-7.1.json");
  if (existsSync(computed)) return computed;
  const fromEnv = process.env["ADO_SPEC"];
  if (fromEnv && existsSync(fromEnv)) return resolve(fromEnv);
  throw new Error(`ADO REST spec not found at ${computed}; set ADO_SPEC to the path of taskAgent-7.1.json`);
}

export function loadAdoSpec(path: string = adoSpecPath()): SwaggerDocument {
  // The published file starts with a UTF-8 BOM, which JSON.parse rejects.
  const document = JSON.parse(readFileSync(path, "utf8").replace(/^\uFEFF/, "")) as SwaggerDocument;
  if (document.swagger !== "2.0" || typeof document.definitions !== "object") throw new Error(`${path} is not a swagger 2.0 document`);
  return document;
}

/**
 * Known, deliberate differences between the swagger and what Azure DevOps (and so the fake)
 * puts on the wire. Each replaces one property schema of one definition.
 */
export const WIRE_DIFFERENCES: readonly { definition: string; property: string; schema: JsonObject; why: string }[] = [
  {
    definition: "TaskAgentJobRequest",
    property: "demands",
    schema: { type: "array", items: { type: "string" } },
    why: "The swagger says Demand objects; the service sends strings such as \"Agent.Version -gtVersion 2.182.1\" and KEDA unmarshals []string (§1.4).",
  },
  {
    definition: "TaskAgentPublicKey",
    property: "exponent",
    schema: { type: "string", format: "byte" },
    why: "byte[] is typed as an array of bytes; Newtonsoft serializes byte[] as one base64 string (§1.4).",
  },
  {
    definition: "TaskAgentPublicKey",
    property: "modulus",
    schema: { type: "string", format: "byte" },
    why: "byte[] is one base64 string on the wire (§1.4).",
  },
  {
    definition: "TaskAgentSessionKey",
    property: "value",
    schema: { type: "string", format: "byte" },
    why: "byte[] is one base64 string on the wire (§1.4).",
  },
  {
    definition: "TaskAgentMessage",
    property: "iv",
    schema: { type: ["string", "null"], format: "byte" },
    why: "byte[] is one base64 string; null when the body is not encrypted (§3.8).",
  },
  {
    definition: "TaskAgentPool",
    property: "targetSize",
    schema: { type: ["integer", "null"], format: "int32" },
    why: "Nullable int: real pool responses carry \"targetSize\": null (§3.5).",
  },
  {
    definition: "TaskAgentPool",
    property: "agentCloudId",
    schema: { type: ["integer", "null"], format: "int32" },
    why: "Nullable int: real pool responses carry \"agentCloudId\": null (§3.5).",
  },
];

/** Whole-definition replacements for the two container types the swagger models by their C# API. */
const WIRE_DEFINITIONS: Record<string, { schema: JsonObject; why: string }> = {
  ReferenceLinks: {
    schema: { type: "object", additionalProperties: { type: "object", properties: { href: { type: "string" } }, required: ["href"] } },
    why: "The swagger describes the C# class ({links: ...}); the wire is the dictionary itself: {\"self\": {\"href\": ...}}.",
  },
  PropertiesCollection: {
    schema: { type: "object" },
    why: "The swagger describes the C# class (count/keys/values); the wire is a plain property bag.",
  },
};

export interface ConversionOptions {
  /** Apply WIRE_DIFFERENCES / WIRE_DEFINITIONS. @default true */
  wire?: boolean;
  /**
   * Flatten `allOf` inheritance and forbid properties the spec does not define, so a misspelt
   * field in the fake fails validation (the swagger itself allows anything extra). @default true
   */
  closed?: boolean;
}

const isObject = (value: Json | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

function refName(ref: string): string | undefined {
  return /^#\/definitions\/(.+)$/.exec(ref)?.[1];
}

/** One swagger schema object → JSON Schema: drops `x-ms-*` vendor keys, rewrites `#/definitions/X`. */
function convertSchema(node: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("x-")) continue;
    if (key === "$ref" && typeof value === "string") {
      const name = refName(value);
      out[key] = name === undefined ? value : `${SPEC_ID}#/definitions/${name}`;
    } else if (key === "properties" && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, isObject(schema) ? convertSchema(schema) : schema]));
    } else if ((key === "items" || key === "additionalProperties") && isObject(value)) {
      out[key] = convertSchema(value);
    } else if (key === "allOf" && Array.isArray(value)) {
      out[key] = value.map((item) => (isObject(item) ? convertSchema(item) : item));
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Inlines `allOf: [{$ref: parent}]` so that `additionalProperties: false` can see inherited fields. */
function flatten(name: string, definitions: Record<string, JsonObject>, seen: Set<string> = new Set()): JsonObject {
  const definition = definitions[name];
  if (!definition) throw new Error(`spec: unknown definition ${name}`);
  if (seen.has(name)) return definition;
  seen.add(name);
  const allOf = definition["allOf"];
  if (!Array.isArray(allOf)) return definition;
  const properties: JsonObject = {};
  for (const parent of allOf) {
    const parentRef = isObject(parent) && typeof parent["$ref"] === "string" ? parent["$ref"].split("#/definitions/")[1] : undefined;
    if (parentRef === undefined) return definition;
    const flatParent = flatten(parentRef, definitions, seen);
    if (isObject(flatParent["properties"])) Object.assign(properties, flatParent["properties"]);
  }
  if (isObject(definition["properties"])) Object.assign(properties, definition["properties"]);
  const { allOf: _inherited, ...rest } = definition;
  return { ...rest, type: "object", properties };
}

/** Pure conversion of the swagger `definitions` into JSON Schema definitions. */
export function toJsonSchemaDefinitions(spec: SwaggerDocument, options: ConversionOptions = {}): Record<string, JsonObject> {
  const wire = options.wire ?? true;
  const closed = options.closed ?? true;
  let definitions: Record<string, JsonObject> = Object.fromEntries(
    Object.entries(spec.definitions).map(([name, schema]) => [name, convertSchema(schema)]),
  );
  if (wire) {
    for (const [name, replacement] of Object.entries(WIRE_DEFINITIONS)) definitions[name] = { ...replacement.schema, description: replacement.why };
    for (const difference of WIRE_DIFFERENCES) {
      const properties = definitions[difference.definition]?.["properties"];
      if (!isObject(properties) || !(difference.property in properties)) {
        throw new Error(`spec: wire difference ${difference.definition}.${difference.property} no longer matches the spec`);
      }
      properties[difference.property] = { ...difference.schema, description: difference.why };
    }
  }
  if (closed) {
    const flattened: Record<string, JsonObject> = {};
    for (const name of Object.keys(definitions)) flattened[name] = flatten(name, definitions);
    for (const schema of Object.values(flattened)) {
      if (isObject(schema["properties"]) && schema["additionalProperties"] === undefined) schema["additionalProperties"] = false;
    }
    definitions = flattened;
  }
  return definitions;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false });
  // §1.4: ISO-8601 with 0–7 fractional digits; "" is not a date (KEDA fails on it).
  ajv.addFormat("date-time", { type: "string", validate: (value: string) => DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)) });
  ajv.addFormat("uuid", { type: "string", validate: (value: string) => UUID.test(value) });
  ajv.addFormat("byte", { type: "string", validate: (value: string) => BASE64.test(value) });
  ajv.addFormat("int32", { type: "number", validate: (value: number) => Number.isInteger(value) && value >= -2_147_483_648 && value <= 2_147_483_647 });
  ajv.addFormat("int64", { type: "number", validate: (value: number) => Number.isSafeInteger(value) });
  // .NET type names used as formats in the swagger; nothing to check on the wire.
  for (const format of ["TimeSpan", "decimal", "JTokenType", "JContainer", "T"]) ajv.addFormat(format, true);
  return ajv;
}

export interface SpecValidator {
  /** Error messages (`/path message`); empty when the body conforms. */
  errors(definition: SpecDefinition, body: unknown): string[];
  /** Throws with all error messages when the body does not conform. */
  assertValid(definition: SpecDefinition, body: unknown): void;
}

export function createSpecValidator(options: ConversionOptions & { specPath?: string } = {}): SpecValidator {
  const definitions = toJsonSchemaDefinitions(loadAdoSpec(options.specPath), options);
  const ajv = createAjv();
  ajv.addSchema({ $id: SPEC_ID, definitions });
  const compiled = new Map<SpecDefinition, ValidateFunction>();
  const validatorFor = (definition: SpecDefinition): ValidateFunction => {
    let validate = compiled.get(definition);
    if (!validate) {
      validate = ajv.compile({ $ref: `${SPEC_ID}#/definitions/${definition}` });
      compiled.set(definition, validate);
    }
    return validate;
  };
  const errors = (definition: SpecDefinition, body: unknown): string[] => {
    const validate = validatorFor(definition);
    if (validate(body)) return [];
    return (validate.errors ?? []).map((error) => {
      const extra = error.keyword === "additionalProperties" ? ` '${String((error.params as { additionalProperty?: string }).additionalProperty)}'` : "";
      return `${error.instancePath || "/"} ${error.message ?? error.keyword}${extra}`;
    });
  };
  return {
    errors,
    assertValid: (definition, body) => {
      const found = errors(definition, body);
      if (found.length > 0) throw new Error(`${definition} does not match taskAgent-7.1.json:\n  ${found.join("\n  ")}`);
    },
  };
}
