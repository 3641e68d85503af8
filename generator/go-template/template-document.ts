import yaml from "js-yaml";

/**
 * Template expressions as typed tokens (style.md rule 4).
 *
 * An emitter builds a plain typed Kubernetes object. Wherever a Helm expression belongs, it puts
 * a sentinel allocated here; the object is dumped to YAML once, and every sentinel is then
 * replaced by exact string lookup with its `{{ … }}` text. Block-shaped fragments (a `toYaml`
 * subtree, an `if` around map entries or list items) are placed where the sentinel's line is,
 * and take their indentation from that line. Nothing here parses user values: the only text
 * searched is the generator's own YAML, for sentinels the generator itself allocated.
 */

type Fragment =
  /** Replaced in place, also inside a longer string: `{{ expr }}`. */
  | { readonly kind: "inline"; readonly expr: string }
  /** The value of a map key: `key: S` → `key:` + the YAML of `expr`, indented under the key. */
  | { readonly kind: "block"; readonly expr: string }
  /** A whole line (map entry `S: null` or list item `- S`) → the entries/items of `expr`, if any. */
  | { readonly kind: "splice"; readonly expr: string }
  /** A whole line → the text a named template renders (already YAML), indented to the line. */
  | { readonly kind: "include"; readonly expr: string }
  /** A list item line → the items a named template renders, if it renders any. */
  | { readonly kind: "includeItems"; readonly expr: string }
  /** A whole line → `{{- if cond }}` / `{{- range … }}` … `{{- end }}` around the lines in between. */
  | { readonly kind: "begin"; readonly action: string }
  | { readonly kind: "end" };

/** Sentinels are plain YAML scalars no value of ours contains, and unique per document. */
const SENTINEL_PREFIX = "azpgenz";
const SENTINEL_SUFFIX = "z";

export class TemplateDocument {
  readonly #fragments = new Map<string, Fragment>();
  readonly #used = new Set<string>();

  #allocate(fragment: Fragment): string {
    const sentinel = `${SENTINEL_PREFIX}${String(this.#fragments.size).padStart(4, "0")}${SENTINEL_SUFFIX}`;
    this.#fragments.set(sentinel, fragment);
    return sentinel;
  }

  /**
   * A string-valued expression, usable alone or inside a longer string. `T` narrows it to an
   * enum-typed field (e.g. a pull policy) whose values the schema already restricts.
   */
  str<T extends string = string>(expr: string): T {
    return this.#allocate({ kind: "inline", expr }) as T;
  }

  /*
   * Non-string scalars are written unquoted and typed as the field expects, so they fit the typed
   * Kubernetes object; such objects are never validated with sentinels in them (style.md:
   * validate concrete renderings only).
   */
  int(expr: string): number {
    // `int64` first: a values file's number is a float64 in Helm, which prints as 2e+06 from a
    // million on, and the API server refuses that for an integer field.
    const operand = /^[$.\w]+$/.test(expr) ? expr : `(${expr})`;
    return this.#allocate({ kind: "inline", expr: `int64 ${operand}` }) as unknown as number;
  }

  bool(expr: string): boolean {
    return this.#allocate({ kind: "inline", expr }) as unknown as boolean;
  }

  /** The value of a map key, rendered as a YAML subtree (`toYaml`-shaped expression). */
  block<T>(expr: string): T {
    return this.#allocate({ kind: "block", expr }) as unknown as T;
  }

  /** List items appended in place: `[...fixed, t.spliceItems(".Values.extraEnv")]`. */
  spliceItems<T>(expr: string): T {
    return this.#allocate({ kind: "splice", expr }) as unknown as T;
  }

  /** Map entries merged in place: `{ fixed: "x", ...t.spliceEntries(".Values.podLabels") }`. */
  spliceEntries(expr: string): Record<string, never> {
    return { [this.#allocate({ kind: "splice", expr })]: null as never };
  }

  /** Map entries rendered by a named template: `{ ...t.includeEntries("azp-agent.labels") }`. */
  includeEntries(template: string): Record<string, never> {
    return { [this.#allocate({ kind: "include", expr: `include "${template}" .` })]: null as never };
  }

  /** List items rendered by a named template: `[...fixed, t.includeItems("azp-agent.proxyEnv")]`. */
  includeItems<T>(template: string): T {
    return this.#allocate({ kind: "includeItems", expr: `include "${template}" .` }) as unknown as T;
  }

  /** Map entries present only when `cond` holds: `{ ...t.when(cond, { key: value }) }`. */
  when<T extends object>(cond: string, entries: T): T {
    const begin = this.#allocate({ kind: "begin", action: `if ${cond}` });
    const end = this.#allocate({ kind: "end" });
    return { [begin]: null, ...entries, [end]: null } as T;
  }

  /** List items present only when `cond` holds: `[...t.whenItems(cond, [item])]`. */
  whenItems<T>(cond: string, items: T[]): T[] {
    return this.#wrapItems(`if ${cond}`, items);
  }

  /** List items repeated for each entry of a map: `t.eachItems("$k, $v := .Values.m", [item])`. */
  eachItems<T>(rangeClause: string, items: T[]): T[] {
    return this.#wrapItems(`range ${rangeClause}`, items);
  }

  #wrapItems<T>(action: string, items: T[]): T[] {
    const begin = this.#allocate({ kind: "begin", action }) as unknown as T;
    const end = this.#allocate({ kind: "end" }) as unknown as T;
    return [begin, ...items, end];
  }

  /** Dumps `object` once and replaces its sentinels; throws if one is misplaced. */
  render(object: unknown): string {
    const dumped = yaml.dump(object, { lineWidth: -1, noRefs: true, sortKeys: false, quotingType: '"' });
    const out: string[] = [];
    for (const line of dumped.split("\n")) out.push(...this.#renderLine(line, this.#used));
    return out.join("\n").replace(/\n+$/, "\n");
  }

  /** Throws if a sentinel allocated here never reached the output (a generator bug). */
  assertComplete(): void {
    const lost = [...this.#fragments.keys()].filter((s) => !this.#used.has(s));
    if (lost.length > 0) throw new Error(`generator bug: sentinels not found in output: ${lost.join(", ")}`);
  }

  #renderLine(line: string, used: Set<string>): string[] {
    const indent = line.length - line.trimStart().length;
    const body = line.trimStart();
    for (const [sentinel, fragment] of this.#fragments) {
      if (fragment.kind === "inline" || !line.includes(sentinel)) continue;
      used.add(sentinel);
      const pad = " ".repeat(indent);
      const isEntry = body === `${sentinel}: null`;
      const isItem = body === `- ${sentinel}`;
      switch (fragment.kind) {
        case "block": {
          if (!body.endsWith(`: ${sentinel}`)) throw new Error(`generator bug: block ${sentinel} not a map value: ${line}`);
          const key = body.slice(0, body.length - sentinel.length - 2);
          // On a list item's `- ` line the key sits right of the dash(es), not at the line's indent.
          const keyColumn = indent + (/^(- )*/.exec(key)?.[0].length ?? 0);
          return [`${pad}${key}: {{- ${fragment.expr} | nindent ${keyColumn + 2} }}`];
        }
        case "splice":
          if (!isEntry && !isItem) throw new Error(`generator bug: splice ${sentinel} misplaced: ${line}`);
          return [`${pad}{{- with ${fragment.expr} }}`, `${pad}{{- toYaml . | nindent ${indent} }}`, `${pad}{{- end }}`];
        case "include":
          if (!isEntry) throw new Error(`generator bug: include ${sentinel} misplaced: ${line}`);
          return [`${pad}{{- ${fragment.expr} | nindent ${indent} }}`];
        case "includeItems":
          if (!isItem) throw new Error(`generator bug: includeItems ${sentinel} misplaced: ${line}`);
          // `with`: a template that renders nothing leaves no blank line behind.
          return [`${pad}{{- with (${fragment.expr} | trim) }}`, `${pad}{{- . | nindent ${indent} }}`, `${pad}{{- end }}`];
        case "begin":
          if (!isEntry && !isItem) throw new Error(`generator bug: block ${sentinel} misplaced: ${line}`);
          return [`${pad}{{- ${fragment.action} }}`];
        case "end":
          if (!isEntry && !isItem) throw new Error(`generator bug: end ${sentinel} misplaced: ${line}`);
          return [`${pad}{{- end }}`];
      }
    }
    let rendered = line;
    for (const [sentinel, fragment] of this.#fragments) {
      if (fragment.kind !== "inline" || !rendered.includes(sentinel)) continue;
      used.add(sentinel);
      rendered = rendered.split(sentinel).join(`{{ ${fragment.expr} }}`);
    }
    return [rendered];
  }
}
