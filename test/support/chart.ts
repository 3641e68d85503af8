import { join } from "node:path";
import { scenarios } from "../../generator/chart/scenarios.ts";
import { CHART_PATH } from "./repo.ts";
import type { JsonObject } from "./values.ts";

/**
 * The chart's ci scenarios, from their one source (generator/chart/scenarios.ts), each with the
 * `ci/<name>-values.yaml` the generator writes from it: the file is what helm, ct and the
 * e2e cluster read, and the drift test keeps it equal to its source.
 */
export interface CiScenario {
  readonly name: string;
  /** Absolute path of the values file in the generated chart. */
  readonly file: string;
  readonly values: JsonObject;
}

const SUFFIX = "-values.yaml";

/** Every scenario (none is named by hand: a new one in the generator is tested everywhere). */
export function ciScenarios(): CiScenario[] {
  return scenarios.map((s) => ({ name: s.name, file: join(CHART_PATH, "ci", `${s.name}${SUFFIX}`), values: s.values }));
}

export function ciScenario(name: string): CiScenario {
  const found = ciScenarios().find((s) => s.name === name);
  if (found === undefined) throw new Error(`no ci scenario ${name} in generator/chart/scenarios.ts`);
  return found;
}
