import { describe, expect, it } from "vitest";
import { chartReadme } from "../../generator/docs/chart-readme.ts";
import { leaves } from "../../generator/model/value-spec.ts";
import { valuesModel } from "../../generator/model/values-model.ts";
import { crossFieldRules, ruleText } from "../../generator/templates/helpers.ts";

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

  it("should show the default note where the model has one, else the default", () => {
    for (const [path, spec] of leaves(valuesModel)) {
      const row = rows.find((r) => r[0] === `\`${path.join(".")}\``);
      const expected = spec.defaultNote ?? `\`${JSON.stringify(spec.default)}\``;
      expect(row?.[2], path.join(".")).toBe(expected.replace(/\|/g, "\\|"));
    }
  });

  it("should list every cross-field rule", () => {
    // As code spans: placeholders such as `<organization>` must show, not read as HTML tags.
    for (const rule of crossFieldRules()) expect(readme).toContain(`- \`${ruleText(rule)}\``);
  });

  it("should contain no leftover Handlebars or HTML-escaped text", () => {
    expect(readme).not.toMatch(/\{\{[^}]*\}\}/);
    expect(readme).not.toMatch(/&(amp|lt|gt|quot|#x27|#x3D|#x60);/);
  });
});
