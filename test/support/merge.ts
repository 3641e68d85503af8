/** The one deep merge of the tests: values files over values files, a team's overrides over its base values. */

type PlainObject = { [key: string]: unknown };

const isPlainObject = (value: unknown): value is PlainObject => typeof value === "object" && value !== null && !Array.isArray(value);

export interface MergeOptions {
  /**
   * A `null` in an override removes the key, as Helm does when it coalesces values over the
   * chart's; otherwise the `null` is kept, as Helm does when it merges several `-f` files first
   * (so that the coalescing still removes that key from the chart's defaults).
   * @default false
   */
  readonly nullRemoves?: boolean;
}

/**
 * `overrides` applied over `base` in order: maps merge key by key, anything else (lists
 * included) replaces. Returns a new object; the inputs are not changed and not shared.
 */
export function deepMerge<T extends object>(base: T, overrides: readonly object[], options: MergeOptions = {}): T {
  let result: PlainObject = structuredClone(base) as PlainObject;
  for (const override of overrides) result = mergeTwo(result, override as PlainObject, options.nullRemoves ?? false);
  return result as T;
}

function mergeTwo(base: PlainObject, override: PlainObject, nullRemoves: boolean): PlainObject {
  const out: PlainObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    if (value === null && nullRemoves) delete out[key];
    else if (isPlainObject(value) && isPlainObject(current)) out[key] = mergeTwo(current, value, nullRemoves);
    else out[key] = structuredClone(value);
  }
  return out;
}
