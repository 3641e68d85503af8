import { describe, expect, it } from "vitest";
import { chartReadme } from "../../generator/docs/chart-readme.ts";
import { leaves } from "../../generator/model/value-spec.ts";
import { valuesModel } from "../../generator/model/values-model.ts";
import { crossFieldRules, ruleText } from "../../generator/templates/cross-field-rules.ts";

/** Rows of the markdown table that starts with `header`, as arrays of cells. */
function tableRows(markdown: string, header: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(header);
  if (start < 0) throw new Error(`no table "${header}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    // Split on unescaped pipes only: descriptions escape theirs as \|.
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

describe("chart README emitter", () => {
  const readme = chartReadme(valuesModel);
  const rows = tableRows(readme, "| Key | Type | Default | Description |");

  it("should have one values-table row per model leaf, in model order", () => {
    const keys = [...leaves(valuesModel)].map(([path]) => `\`${path.join(".")}\``);
    expect(rows.map((r) => r[0])).toEqual(keys);
  });

  it("should give each row four cells (no stray pipe from a description)", () => {
    for (const row of rows) expect(row, row[0]).toHaveLength(4);
  });

  // Literal cells: the default as compact JSON in a code span, or the model's note in words.
  it.each([
    { key: "azp.url", type: "string", cell: '`""`' },
    { key: "azp.pool", type: "string", cell: '`"Default"`' },
    { key: "refresh.schedule", type: "string", cell: '`"0 0 * * 0"`' },
    { key: "replicaCount", type: "integer", cell: "`3`" },
    { key: "gc.dryRun", type: "boolean", cell: "`false`" },
    { key: "agent.capabilities", type: "object", cell: "`{}`" },
    { key: "networkPolicy.metadataAddresses", type: "array", cell: '`["169.254.169.254","168.63.129.16"]`' },
    { key: "registrationResources", type: "object", cell: '`{"requests":{"cpu":"10m","memory":"32Mi"},"limits":{"memory":"128Mi"}}`' },
    { key: "namespace.name", type: "string", cell: "the release namespace" },
    { key: "image.tag", type: "string", cell: "the chart's appVersion" },
    { key: "serviceAccount.name", type: "string", cell: "`<fullname>`" },
    { key: "refresh.timeZone", type: "string", cell: "the controller manager's" },
  ])("should show $key as a $type defaulting to $cell", ({ key, type, cell }) => {
    const row = rows.find((r) => r[0] === `\`${key}\``);
    expect(row?.slice(1, 3)).toEqual([type, cell]);
  });

  it("should mark the deprecated registrarResources, naming its new key", () => {
    const row = rows.find((r) => r[0] === "`registrarResources`");
    expect(row?.[3]).toMatch(/^Deprecated: use `registrationResources`/);
  });

  it("should list every cross-field rule", () => {
    // As code spans: placeholders such as `<organization>` must show, not read as HTML tags.
    for (const rule of crossFieldRules()) expect(readme).toContain(`- \`${ruleText(rule)}\``);
  });

  it("should show a name a rule inserts as <name>", () => {
    expect(readme).toContain(
      "- `agent.capabilities has a comma in the value of <name>: with autoscaling.enabled=true the capabilities become KEDA's comma-separated demands list; remove the comma from that value`",
    );
  });

  it("should contain no leftover Handlebars or HTML-escaped text", () => {
    expect(readme).not.toMatch(/\{\{[^}]*\}\}/);
    expect(readme).not.toMatch(/&(amp|lt|gt|quot|#x27|#x3D|#x60);/);
  });
});
