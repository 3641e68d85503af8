/**
 * The building blocks of the values model. Every key carries its type, default, description and
 * constraints once; values.yaml, values.schema.json, the chart README and the templates' `.Values`
 * paths are all derived from these specs.
 */

export type JsonSchema = { [key: string]: unknown };
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface LeafSpec {
  readonly kind: "leaf";
  /** JSON Schema of the value (type, enum, pattern, …) without description/default. */
  readonly schema: JsonSchema;
  readonly default: JsonValue;
  readonly description: string;
  /** Shown in the README instead of the literal default, e.g. "the release namespace". */
  readonly defaultNote?: string;
}

export interface GroupSpec {
  readonly kind: "group";
  readonly description: string;
  readonly children: { readonly [key: string]: ValueSpec };
}

export type ValueSpec = LeafSpec | GroupSpec;

interface LeafOptions {
  /** Extra JSON Schema keywords (pattern, enum, minimum, items, …). */
  readonly schema?: JsonSchema;
  readonly defaultNote?: string;
}

function leaf(type: JsonSchema, value: JsonValue, description: string, options: LeafOptions = {}): LeafSpec {
  return {
    kind: "leaf",
    schema: { ...type, ...options.schema },
    default: value,
    description,
    ...(options.defaultNote === undefined ? {} : { defaultNote: options.defaultNote }),
  };
}

export const str = (value: string, description: string, options?: LeafOptions): LeafSpec =>
  leaf({ type: "string" }, value, description, options);

export const int = (value: number, description: string, options?: LeafOptions): LeafSpec =>
  leaf({ type: "integer" }, value, description, options);

export const bool = (value: boolean, description: string, options?: LeafOptions): LeafSpec =>
  leaf({ type: "boolean" }, value, description, options);

/** A string → string map passed through to Kubernetes (labels, annotations, node selector). */
export const stringMap = (value: Record<string, string>, description: string, options?: LeafOptions): LeafSpec =>
  leaf({ type: "object", additionalProperties: { type: "string" } }, value, description, options);

/** A Kubernetes object fragment passed through as is (resources, affinity, securityContext, …). */
export const fragment = (value: { [key: string]: JsonValue }, description: string, options?: LeafOptions): LeafSpec =>
  leaf({ type: "object" }, value, description, options);

/** A list of Kubernetes objects passed through (tolerations, extra env, extra volumes, …). */
export const list = (value: JsonValue[], description: string, item: JsonSchema, options?: LeafOptions): LeafSpec =>
  leaf({ type: "array", items: item }, value, description, options);

export const group = (description: string, children: { [key: string]: ValueSpec }): GroupSpec => ({
  kind: "group",
  description,
  children,
});

/** Walks the model depth-first in declaration order, yielding dotted paths of leaves. */
export function* leaves(spec: GroupSpec, prefix: string[] = []): Generator<[string[], LeafSpec]> {
  for (const [key, child] of Object.entries(spec.children)) {
    const path = [...prefix, key];
    if (child.kind === "leaf") yield [path, child];
    else yield* leaves(child, path);
  }
}
