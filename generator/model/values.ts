import { leaves, type GroupSpec, type LeafSpec } from "./value-spec.ts";
import { valuesModel } from "./values-model.ts";

/**
 * Accessors: the only way templates refer to values. `values.get("azp.url")` returns a ref
 * whose `.path` is `.Values.azp.url`; an unknown key is a generator error at build time, and the
 * sync tests check every declared key is read by some template.
 */
export interface ValueRef {
  readonly key: string;
  readonly spec: LeafSpec;
  /** The Go-template path, e.g. `.Values.azp.url`. */
  readonly path: string;
  /** `.path | quote` — a string value in YAML. */
  readonly quoted: string;
  /** `toYaml .path` — a subtree. */
  readonly yaml: string;
  /** The path from another root: `$` inside a `range`, `.root` in a helper called with a dict. */
  pathFrom(root: "$" | ".root"): string;
}

export class ValuesModel {
  readonly #refs = new Map<string, ValueRef>();

  constructor(readonly root: GroupSpec) {
    for (const [path, spec] of leaves(root)) {
      const key = path.join(".");
      const goPath = `.Values.${key}`;
      this.#refs.set(key, {
        key,
        spec,
        path: goPath,
        quoted: `${goPath} | quote`,
        yaml: `toYaml ${goPath}`,
        pathFrom: (root) => `${root}${goPath}`,
      });
    }
  }

  get(key: string): ValueRef {
    const ref = this.#refs.get(key);
    if (ref === undefined) throw new Error(`generator bug: no value "${key}" in the values model`);
    return ref;
  }

  keys(): string[] {
    return [...this.#refs.keys()];
  }
}

export const values = new ValuesModel(valuesModel);
/** Shorthand used by the template emitters. */
export const v = (key: string): ValueRef => values.get(key);
