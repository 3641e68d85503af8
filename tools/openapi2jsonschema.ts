// Derives kubeconform's JSON schemas from a Kubernetes OpenAPI v2 document (swagger.json),
// offline. kubeconform normally downloads them from yannh/kubernetes-json-schema, which is
// built with openapi2jsonschema (instrumenta, yannh's fork) as
//   openapi2jsonschema --expanded --kubernetes --stand-alone --strict swagger.json
// This file reproduces that flavour ("<version>-standalone-strict"):
//   * one file per definition, named `<kind>[-<group>]-<version>.json`, all lowercase, the
//     group part left out for the core group ("deployment-apps-v1", "namespace-v1",
//     "rolebinding-rbac-v1") — the name kubeconform asks for with {{ .ResourceKind }}{{ .KindSuffix }};
//   * IntOrString is `oneOf: [string, integer]`, Quantity is `oneOf: [string, number]` (most
//     Kubernetes tooling accepts a number there), inline `format: int-or-string` likewise;
//   * `apiVersion` / `kind` get enums from x-kubernetes-group-version-kind;
//   * stand-alone: every $ref is inlined (the referenced definition replaces the $ref object,
//     sibling keys such as `description` dropped, as jsonref does);
//   * strict: `additionalProperties: false` on every object schema that declares `properties`
//     and says nothing about additionalProperties (kubectl's validation behaviour);
//   * optional fields accept null (`type: [T, "null"]`) as the upstream schemas do, because
//     Helm renders absent values as null; fields the parent lists as `required` do not.
// One deliberate difference: upstream skips the few definitions that are recursive
// (JSONSchemaProps and the CustomResourceDefinition types that embed it) because inlining
// never ends; here the recursive reference is cut and replaced by `{}` (anything), so a
// CustomResourceDefinition still gets its outer structure validated.
//
// Usage:
//   tsx tools/openapi2jsonschema.ts extract --zip FILE --module PATH@VERSION [--sum h1:...]
//                                           --prefix DIR/ --dest DIR
//       extracts the files under module-relative DIR/ from a Go module zip, after checking the
//       zip against its go.sum hash (h1, Go's dirhash) when --sum is given.
//   tsx tools/openapi2jsonschema.ts convert --spec swagger.json --output DIR
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { argv, exit, stderr, stdout } from "node:process";
import { pathToFileURL } from "node:url";
import { inflateRawSync } from "node:zlib";

type Json = null | boolean | number | string | Json[] | JsonObject;
interface JsonObject {
  [key: string]: Json;
}

const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------- Go module zip

interface ZipEntry {
  name: string;
  data: () => Buffer;
}

/** Reads a zip archive (stored or deflated entries, no zip64: Go module zips stay far below its limits). */
export function readZip(buf: Buffer): ZipEntry[] {
  const EOCD = 0x06054b50;
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip archive (no end of central directory record)");
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) throw new Error("zip64 archives are not supported");
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central directory entry #${n}`);
    const method = buf.readUInt16LE(p + 10);
    const compressedSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString("utf8", p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    entries.push({
      name,
      data: (): Buffer => {
        if (buf.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header for ${name}`);
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const raw = buf.subarray(start, start + compressedSize);
        let out: Buffer;
        if (method === 0) out = raw;
        else if (method === 8) out = inflateRawSync(raw);
        else throw new Error(`${name}: unsupported compression method ${method}`);
        if (out.length !== size) throw new Error(`${name}: size mismatch`);
        return out;
      },
    });
  }
  return entries;
}

/** Go's dirhash.Hash1 of a module zip: the "h1:" hash found in go.sum and the checksum database. */
export function moduleZipHash1(entries: ZipEntry[]): string {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const summary = createHash("sha256");
  for (const e of sorted) {
    if (e.name.includes("\n")) throw new Error(`file name with newline: ${JSON.stringify(e.name)}`);
    summary.update(`${createHash("sha256").update(e.data()).digest("hex")}  ${e.name}\n`);
  }
  return `h1:${summary.digest("base64")}`;
}

function extract(opts: Map<string, string>): void {
  const zipFile = required(opts, "zip");
  const modVersion = required(opts, "module");
  const prefix = required(opts, "prefix");
  const dest = required(opts, "dest");
  const entries = readZip(readFileSync(zipFile));
  const sum = opts.get("sum");
  if (sum !== undefined) {
    const got = moduleZipHash1(entries);
    if (got !== sum) throw new Error(`${zipFile}: checksum mismatch: got ${got}, want ${sum}`);
  }
  const root = `${modVersion}/${prefix}`;
  let written = 0;
  for (const e of entries) {
    if (!e.name.startsWith(root)) continue;
    const rel = normalize(e.name.slice(modVersion.length + 1));
    if (rel.startsWith(`..${sep}`) || rel.startsWith(sep)) throw new Error(`unsafe path in zip: ${e.name}`);
    const out = join(dest, rel);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, e.data());
    written++;
  }
  if (written === 0) throw new Error(`${zipFile}: nothing under ${root}`);
  stdout.write(`extracted ${written} files under ${prefix} from ${modVersion}${sum ? " (checksum ok)" : ""}\n`);
}

// -------------------------------------------------------------- the conversion

const INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const REF_PREFIX = "#/definitions/";

/** Appends to obj[key] (created as an array when missing) unless already present. */
function appendNoDuplicates(obj: JsonObject, key: string, value: string): void {
  const list = Array.isArray(obj[key]) ? (obj[key] as Json[]) : [];
  if (!list.includes(value)) list.push(value);
  obj[key] = list;
}

/** Kubernetes-specific rewrites of the shared definitions (openapi2jsonschema --kubernetes --expanded). */
function prepareKubernetesDefinitions(defs: JsonObject): void {
  defs[INT_OR_STRING] = { oneOf: [{ type: "string" }, { type: "integer" }] };
  defs[QUANTITY] = { oneOf: [{ type: "string" }, { type: "number" }] };
  for (const def of Object.values(defs)) {
    if (!isObject(def)) continue;
    const gvks = def["x-kubernetes-group-version-kind"];
    const props = def["properties"];
    if (!Array.isArray(gvks) || !isObject(props)) continue;
    for (const gvk of gvks) {
      if (!isObject(gvk)) continue;
      const group = typeof gvk["group"] === "string" ? gvk["group"] : "";
      const version = String(gvk["version"]);
      const apiVersion = props["apiVersion"];
      if (isObject(apiVersion)) appendNoDuplicates(apiVersion, "enum", group ? `${group}/${version}` : version);
      const kind = props["kind"];
      if (isObject(kind)) appendNoDuplicates(kind, "enum", String(gvk["kind"]));
    }
  }
}

/** Strict mode: objects that declare properties allow no others (unless they say otherwise). */
function denyAdditionalProperties(node: Json): void {
  if (Array.isArray(node)) {
    node.forEach(denyAdditionalProperties);
  } else if (isObject(node)) {
    for (const v of Object.values(node)) {
      if (isObject(v) && "properties" in v && !("additionalProperties" in v)) v["additionalProperties"] = false;
      denyAdditionalProperties(v);
    }
  }
}

/** Inline `format: int-or-string` schemas become the same oneOf as the IntOrString definition. */
function replaceIntOrString(node: Json): Json {
  if (Array.isArray(node)) return node.map(replaceIntOrString);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] =
      isObject(v) && v["format"] === "int-or-string"
        ? { oneOf: [{ type: "string" }, { type: "integer" }] }
        : replaceIntOrString(v);
  }
  return out;
}

/**
 * openapi2jsonschema's allow_null_optional_fields: every `type: T` becomes `[T, "null"]`
 * unless the schema holding it is a property that its object lists in `required`
 * (data = that schema, parent = the `properties` map, grandParent = the object schema).
 */
function allowNullOptionalFields(data: Json, parent?: Json, grandParent?: Json, key?: string): Json {
  if (Array.isArray(data)) return data.map((x) => allowNullOptionalFields(x, data, parent, key));
  if (!isObject(data)) return data;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(data)) {
    if (isObject(v) || Array.isArray(v)) {
      out[k] = allowNullOptionalFields(v, data, parent, k);
    } else if (k === "type" && typeof v === "string" && v !== "null") {
      const req = isObject(grandParent) ? grandParent["required"] : undefined;
      const isRequired = Array.isArray(req) && key !== undefined && req.includes(key);
      out[k] = isRequired ? v : [v, "null"];
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Inlines every #/definitions/ $ref; a reference back into its own chain becomes `{}`. */
function dereference(node: Json, defs: JsonObject, stack: string[], cut: Set<string>): Json {
  if (Array.isArray(node)) return node.map((x) => dereference(x, defs, stack, cut));
  if (!isObject(node)) return node;
  const ref = node["$ref"];
  if (typeof ref === "string") {
    if (!ref.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref ${ref}`);
    const name = ref.slice(REF_PREFIX.length);
    const target = defs[name];
    if (target === undefined) throw new Error(`dangling $ref ${ref}`);
    if (stack.includes(name)) {
      cut.add(name);
      return {};
    }
    return dereference(target, defs, [...stack, name], cut);
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) out[k] = dereference(v, defs, stack, cut);
  return out;
}

/** `<kind>[-<group>]-<version>` from a definition name such as io.k8s.api.apps.v1.Deployment. */
export function schemaFileName(title: string): string {
  const parts = title.toLowerCase().split(".");
  const kind = parts[parts.length - 1] ?? title;
  const version = parts[parts.length - 2] ?? "";
  const group = parts[parts.length - 3] ?? "";
  return group === "core" || group === "api" ? `${kind}-${version}` : `${kind}-${group}-${version}`;
}

/** Converts a swagger.json (OpenAPI v2) document into file name → standalone strict schema. */
export function convertSwagger(spec: JsonObject): Map<string, JsonObject> {
  if (typeof spec["swagger"] !== "string" || !isObject(spec["definitions"])) {
    throw new Error("expected an OpenAPI v2 document with definitions (api/openapi-spec/swagger.json)");
  }
  const defs: JsonObject = structuredClone(spec["definitions"]);
  prepareKubernetesDefinitions(defs);
  denyAdditionalProperties(defs);

  const out = new Map<string, JsonObject>();
  const cut = new Set<string>();
  for (const title of Object.keys(defs).sort()) {
    const def = dereference(defs[title] ?? {}, defs, [title], cut);
    if (!isObject(def)) continue;
    def["type"] ??= "object";
    if ("properties" in def) def["additionalProperties"] = false;
    if (isObject(def["properties"])) {
      def["properties"] = allowNullOptionalFields(replaceIntOrString(def["properties"]));
    }
    def["$schema"] = "http://json-schema.org/schema#";
    const file = schemaFileName(title);
    if (out.has(file)) stderr.write(`warning: ${title} and another definition both map to ${file}.json\n`);
    out.set(file, def);
  }
  if (cut.size > 0) stderr.write(`note: recursive references to ${[...cut].sort().join(", ")} inlined once, then {}\n`);
  return out;
}

function convert(opts: Map<string, string>): void {
  const specFile = required(opts, "spec");
  const output = required(opts, "output");
  const spec = JSON.parse(readFileSync(specFile, "utf8")) as Json;
  if (!isObject(spec)) throw new Error(`${specFile}: not a JSON object`);
  const schemas = convertSwagger(spec);
  mkdirSync(output, { recursive: true });
  for (const [name, schema] of schemas) writeFileSync(join(output, `${name}.json`), JSON.stringify(schema));
  stdout.write(`wrote ${schemas.size} schemas to ${output}\n`);
}

// ------------------------------------------------------------------------- CLI

function required(opts: Map<string, string>, name: string): string {
  const v = opts.get(name);
  if (v === undefined || v === "") throw new Error(`missing --${name}`);
  return v;
}

function parseOptions(args: string[]): Map<string, string> {
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] ?? "";
    const value = args[i + 1];
    if (!flag.startsWith("--") || value === undefined) throw new Error(`bad arguments near ${flag}`);
    opts.set(flag.slice(2), value);
  }
  return opts;
}

function main(args: string[]): void {
  const [command, ...rest] = args;
  const opts = parseOptions(rest);
  if (command === "extract") extract(opts);
  else if (command === "convert") convert(opts);
  else throw new Error("usage: openapi2jsonschema.ts extract|convert --option value ...");
}

// Run only as a script, so that tests can import the functions above.
if (argv[1] !== undefined && import.meta.url === pathToFileURL(argv[1]).href) {
  try {
    main(argv.slice(2));
  } catch (e) {
    stderr.write(`openapi2jsonschema: ${e instanceof Error ? e.message : String(e)}\n`);
    exit(1);
  }
}
