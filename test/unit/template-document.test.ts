import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { TemplateDocument } from "../../generator/go-template/template-document.ts";

/**
 * The template layer turns a typed object with sentinels into Go-template text. These tests pin
 * the exact text of every fragment kind, including the indentation Helm's `nindent` needs.
 */

const lines = (...text: string[]): string => `${text.join("\n")}\n`;

/** GIVEN a fresh document, WHEN `build` places fragments and the object is rendered, THEN … */
function renderWith(build: (t: TemplateDocument) => unknown): string {
  const t = new TemplateDocument();
  const out = t.render(build(t));
  t.assertComplete();
  return out;
}

describe("TemplateDocument fragments", () => {
  it.each([
    {
      kind: "str (alone)",
      build: (t: TemplateDocument): unknown => ({ metadata: { name: t.str('include "x.fullname" .') } }),
      expected: lines("metadata:", '  name: {{ include "x.fullname" . }}'),
    },
    {
      kind: "str (inside a longer string)",
      build: (t: TemplateDocument): unknown => ({ name: `${t.str('include "x.fullname" .')}-refresh`, url: `https://${t.str(".Values.host")}/api` }),
      expected: lines('name: {{ include "x.fullname" . }}-refresh', "url: https://{{ .Values.host }}/api"),
    },
    {
      kind: "str (twice in one string)",
      build: (t: TemplateDocument): unknown => {
        const host = t.str(".Values.host");
        return { both: `${host}:${host}` };
      },
      expected: lines("both: {{ .Values.host }}:{{ .Values.host }}"),
    },
    {
      kind: "int",
      build: (t: TemplateDocument): unknown => ({ spec: { replicas: t.int(".Values.replicaCount") } }),
      expected: lines("spec:", "  replicas: {{ int64 .Values.replicaCount }}"),
    },
    {
      kind: "bool",
      build: (t: TemplateDocument): unknown => ({ spec: { suspend: t.bool(".Values.suspend") } }),
      expected: lines("spec:", "  suspend: {{ .Values.suspend }}"),
    },
    {
      kind: "block",
      build: (t: TemplateDocument): unknown => ({ spec: { template: { resources: t.block("toYaml .Values.resources") } } }),
      expected: lines("spec:", "  template:", "    resources: {{- toYaml .Values.resources | nindent 6 }}"),
    },
    {
      kind: "block (in a list item's map, not its first key)",
      build: (t: TemplateDocument): unknown => ({ containers: [{ name: "a", resources: t.block("toYaml .Values.resources") }] }),
      expected: lines("containers:", "  - name: a", "    resources: {{- toYaml .Values.resources | nindent 6 }}"),
    },
    {
      kind: "spliceItems",
      build: (t: TemplateDocument): unknown => ({ env: [{ name: "A", value: "1" }, t.spliceItems(".Values.extraEnv")] }),
      expected: lines(
        "env:",
        "  - name: A",
        '    value: "1"',
        "  {{- with .Values.extraEnv }}",
        "  {{- toYaml . | nindent 2 }}",
        "  {{- end }}",
      ),
    },
    {
      kind: "spliceEntries",
      build: (t: TemplateDocument): unknown => ({ metadata: { labels: { fixed: "x", ...t.spliceEntries(".Values.podLabels") } } }),
      expected: lines(
        "metadata:",
        "  labels:",
        "    fixed: x",
        "    {{- with .Values.podLabels }}",
        "    {{- toYaml . | nindent 4 }}",
        "    {{- end }}",
      ),
    },
    {
      kind: "includeEntries",
      build: (t: TemplateDocument): unknown => ({ metadata: { labels: { ...t.includeEntries("x.labels"), component: "agent" } } }),
      expected: lines("metadata:", "  labels:", '    {{- include "x.labels" . | nindent 4 }}', "    component: agent"),
    },
    {
      kind: "when",
      build: (t: TemplateDocument): unknown => ({ spec: { a: 1, ...t.when(".Values.prio", { priorityClassName: t.str(".Values.prio | quote") }) } }),
      expected: lines("spec:", "  a: 1", "  {{- if .Values.prio }}", "  priorityClassName: {{ .Values.prio | quote }}", "  {{- end }}"),
    },
    {
      kind: "whenItems",
      build: (t: TemplateDocument): unknown => ({ env: [...t.whenItems(".Values.proxy", [{ name: "HTTP_PROXY", value: t.str(".Values.proxy | quote") }])] }),
      expected: lines(
        "env:",
        "  {{- if .Values.proxy }}",
        "  - name: HTTP_PROXY",
        "    value: {{ .Values.proxy | quote }}",
        "  {{- end }}",
      ),
    },
    {
      kind: "eachItems",
      build: (t: TemplateDocument): unknown => ({
        env: t.eachItems("$name, $value := .Values.capabilities", [{ name: t.str("$name"), value: t.str("$value | quote") }]),
      }),
      expected: lines(
        "env:",
        "  {{- range $name, $value := .Values.capabilities }}",
        "  - name: {{ $name }}",
        "    value: {{ $value | quote }}",
        "  {{- end }}",
      ),
    },
  ])("should render $kind as the exact Go-template text", ({ build, expected }) => {
    // GIVEN an object holding the fragment  WHEN it is rendered
    const out = renderWith(build);
    // THEN the sentinel became exactly the expected template text
    expect(out).toBe(expected);
  });

  it("should indent a block that is the first key of a list item's map under that key", () => {
    // GIVEN a block-valued key that YAML places on the `- ` line of a list item
    const out = renderWith((t) => ({ containers: [{ resources: t.block("toYaml .Values.resources"), name: "a" }] }));
    // THEN the subtree is indented deeper than the key (column 4), or YAML would read it as
    // siblings of `resources` instead of its children
    expect(out).toBe(lines("containers:", "  - resources: {{- toYaml .Values.resources | nindent 6 }}", "    name: a"));
  });

  it("should nest fragments of several kinds at their own depths", () => {
    const out = renderWith((t) => ({
      spec: {
        ...t.when(".Values.on", {
          nodeSelector: t.block("toYaml .Values.nodeSelector"),
          tolerations: [t.spliceItems(".Values.tolerations")],
        }),
      },
    }));
    expect(out).toBe(
      lines(
        "spec:",
        "  {{- if .Values.on }}",
        "  nodeSelector: {{- toYaml .Values.nodeSelector | nindent 4 }}",
        "  tolerations:",
        "    {{- with .Values.tolerations }}",
        "    {{- toYaml . | nindent 4 }}",
        "    {{- end }}",
        "  {{- end }}",
      ),
    );
  });
});

describe("TemplateDocument misplaced fragments", () => {
  it.each([
    { kind: "block as a list item", build: (t: TemplateDocument): unknown => ({ items: [t.block("toYaml .Values.x")] }) },
    { kind: "block inside a longer string", build: (t: TemplateDocument): unknown => ({ a: `x-${t.block<string>("toYaml .Values.x")}` }) },
    { kind: "spliceItems as a map value", build: (t: TemplateDocument): unknown => ({ env: t.spliceItems(".Values.extraEnv") }) },
    { kind: "spliceItems inside a longer string", build: (t: TemplateDocument): unknown => ({ a: `x-${t.spliceItems<string>(".Values.x")}` }) },
    {
      kind: "spliceEntries key used as a value",
      build: (t: TemplateDocument): unknown => ({ a: Object.keys(t.spliceEntries(".Values.x"))[0] }),
    },
    {
      kind: "includeEntries key used as a list item",
      build: (t: TemplateDocument): unknown => ({ items: [Object.keys(t.includeEntries("x.labels"))[0]] }),
    },
    {
      kind: "when markers used as a map value",
      build: (t: TemplateDocument): unknown => ({ a: Object.keys(t.when(".Values.x", { b: 1 }))[0], b: 1, c: Object.keys(t.when(".Values.y", {})).at(-1) }),
    },
    {
      kind: "whenItems end marker inside a string",
      build: (t: TemplateDocument): unknown => {
        const [begin, end] = t.whenItems(".Values.x", []);
        return { items: [begin], a: `${String(end)}!` };
      },
    },
  ])("should throw for $kind", ({ build }) => {
    // GIVEN a fragment where its kind cannot stand
    const t = new TemplateDocument();
    // WHEN rendering  THEN the generator refuses instead of writing a broken template
    expect(() => t.render(build(t))).toThrow(/generator bug: .*misplaced|not a map value/);
  });
});

describe("TemplateDocument completeness", () => {
  it("should throw from assertComplete when a sentinel never reached the output", () => {
    // GIVEN a fragment allocated but left out of the rendered object
    const t = new TemplateDocument();
    const lost = t.str(".Values.lost");
    t.render({ kept: t.str(".Values.kept") });
    // THEN assertComplete names the lost sentinel
    expect(() => t.assertComplete()).toThrow(new RegExp(`sentinels not found in output: ${lost}$`));
  });

  it("should pass assertComplete when every sentinel is placed, across several renders", () => {
    const t = new TemplateDocument();
    const a = t.str(".Values.a");
    const b = t.int(".Values.b");
    t.render({ a });
    t.render({ b });
    expect(() => t.assertComplete()).not.toThrow();
  });
});

describe("TemplateDocument user-looking content", () => {
  it.each([
    { case: "Go template braces", value: "{{ .Values.evil }}" },
    { case: "a trimmed Go action", value: '{{- include "x" . }}' },
    { case: "a sentinel-like word the document did not allocate", value: "azpgenz9999z" },
    { case: "a comment marker", value: "# not a comment" },
  ])("should leave a plain string holding $case untouched", ({ value }) => {
    // GIVEN a plain string value that looks like template syntax, next to a real fragment
    const t = new TemplateDocument();
    const real = t.str(".Values.real");
    const out = t.render({ plain: value, list: [value], real });
    // THEN it reads back as the same string, and only the real fragment became an action
    const parsed = yaml.load(out.replace("{{ .Values.real }}", "REAL")) as Record<string, unknown>;
    expect(parsed).toEqual({ plain: value, list: [value], real: "REAL" });
  });
});
