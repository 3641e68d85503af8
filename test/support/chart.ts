import yaml from "js-yaml";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CHART_PATH } from "./repo.ts";
import { isJsonObject, type JsonObject } from "./values.ts";

/** One `ci/<name>-values.yaml` of the chart, as found on disk. */
export interface CiScenario {
  readonly name: string;
  /** Absolute path of the values file. */
  readonly file: string;
  readonly values: JsonObject;
}

const SUFFIX = "-values.yaml";

/** Every scenario file under the chart's ci/ (the directory is the list: no scenario is named by hand). */
export function ciScenarios(): CiScenario[] {
  const dir = join(CHART_PATH, "ci");
  return readdirSync(dir)
    .filter((f) => f.endsWith(SUFFIX))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const values = yaml.load(readFileSync(file, "utf8"));
      if (!isJsonObject(values as never)) throw new Error(`${file} is not a YAML map`);
      return { name: f.slice(0, -SUFFIX.length), file, values: values as JsonObject };
    });
}

export function ciScenario(name: string): CiScenario {
  const found = ciScenarios().find((s) => s.name === name);
  if (found === undefined) throw new Error(`no chart/…/ci/${name}${SUFFIX}`);
  return found;
}
