import yaml from "js-yaml";
import { generatedHeader } from "../generated-header.ts";
import type { GroupSpec, JsonValue, ValueSpec } from "../model/value-spec.ts";

/**
 * values.yaml with a comment on every key that starts with the key's name (Helm best
 * practices), generated from the values model so it cannot disagree with the schema.
 */

function isEmptyOrScalar(value: JsonValue): boolean {
  if (value === null || typeof value !== "object") return true;
  return Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0;
}

function emit(key: string, spec: ValueSpec, depth: number, out: string[]): void {
  const pad = "  ".repeat(depth);
  out.push(`${pad}# ${key} -- ${spec.description}`);
  if (spec.kind === "group") {
    out.push(`${pad}${key}:`);
    for (const [childKey, child] of Object.entries(spec.children)) emit(childKey, child, depth + 1, out);
    return;
  }
  if (isEmptyOrScalar(spec.default)) {
    out.push(`${pad}${key}: ${yaml.dump(spec.default, { flowLevel: 0 }).trimEnd()}`);
    return;
  }
  out.push(`${pad}${key}:`);
  for (const line of yaml.dump(spec.default, { lineWidth: -1 }).trimEnd().split("\n")) out.push(`${pad}  ${line}`);
}

export function valuesYaml(model: GroupSpec): string {
  const out = [
    generatedHeader.hash("generator/chart/values-yaml.ts", "generator/model/values-model.ts"),
    "# yaml-language-server: $schema=values.schema.json",
    "# Every key is described and checked in values.schema.json: Helm rejects unknown keys and wrong types.",
  ];
  for (const [key, spec] of Object.entries(model.children)) {
    out.push("");
    emit(key, spec, 0, out);
  }
  return `${out.join("\n")}\n`;
}

/** The defaults as a plain object (for tests and the README). */
export function defaultValues(model: GroupSpec): { [key: string]: JsonValue } {
  const build = (group: GroupSpec): { [key: string]: JsonValue } =>
    Object.fromEntries(Object.entries(group.children).map(([k, s]) => [k, s.kind === "group" ? build(s) : s.default]));
  return build(model);
}
