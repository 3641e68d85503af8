import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { proxyEnvNames } from "../../generator/contract/image.ts";
import { values } from "../../generator/model/values.ts";
import { helper } from "../../generator/templates/helper-names.ts";
import { valuesModel } from "../../generator/model/values-model.ts";
import type { GroupSpec } from "../../generator/model/value-spec.ts";
import { CHART_PATH } from "../support/repo.ts";

/**
 * The values model and the templates agree (style.md rule 4): every key is read by some template,
 * and every `.Values.…` path a template reads is a key of the model.
 */

function templateFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? templateFiles(full) : [full];
  });
}

const templatesDir = join(CHART_PATH, "templates");
const templates = templateFiles(templatesDir).map((file) => ({ file: relative(CHART_PATH, file), text: readFileSync(file, "utf8") }));

/** Every dotted path after `.Values` in the templates (`$.Values.x` included), with where it is. */
const VALUES_PATH = /\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g;
const used = templates.flatMap(({ file, text }) => [...text.matchAll(VALUES_PATH)].map((m) => ({ file, path: (m[1] ?? "").slice(1) })));

/** Group keys of the model (`azp`, `refresh.serviceAccount`, …). */
function groupKeys(group: GroupSpec, prefix = ""): string[] {
  return Object.entries(group.children).flatMap(([key, spec]) =>
    spec.kind === "group" ? [`${prefix}${key}`, ...groupKeys(spec, `${prefix}${key}.`)] : [],
  );
}

describe("values model ↔ templates", () => {
  it("should find templates that read values", () => {
    expect(templates.length).toBeGreaterThan(5);
    expect(used.length).toBeGreaterThan(20);
  });

  it("should read every key of the values model in some template", () => {
    const unused = values.keys().filter((key) => !used.some(({ path }) => path === key || path.startsWith(`${key}.`)));
    expect(unused, "values declared in generator/model/values-model.ts but never read by a template").toEqual([]);
  });

  it("should read only keys the values model declares", () => {
    const leaves = new Set(values.keys());
    const groups = new Set(groupKeys(valuesModel));
    const unknown = used.filter(({ path }) => !leaves.has(path) && !groups.has(path)).map(({ file, path }) => `${file}: .Values.${path}`);
    expect(unknown, "templates read values the model does not declare").toEqual([]);
  });
});

describe("the proxy variables", () => {
  it("should be written once, in the proxyEnv named template, and included by the templates", () => {
    const names = Object.values(proxyEnvNames).flat();
    const repeated = templates.filter(({ file }) => file !== join("templates", "_helpers.tpl")).filter(({ text }) => names.some((name) => text.includes(name)));
    expect(repeated.map(({ file }) => file)).toEqual([]);
    expect(templates.filter(({ text }) => text.includes(`include "${helper.proxyEnv}"`)).length).toBeGreaterThan(0);
  });
});
