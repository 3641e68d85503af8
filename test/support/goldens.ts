import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ciScenarios } from "./chart.ts";
import { renderScenario } from "./helm.ts";
import { REPO, repoPath } from "./repo.ts";

/**
 * Whole-output golden files, one per ci scenario (test/render/golden/<scenario>.yaml). Only
 * `npm run goldens` writes them; a test run only reads them, so a missing or outdated golden is
 * a failure that names this command, never a file quietly written.
 */

export const GOLDENS_COMMAND = "npm run goldens";
export const GOLDEN_DIR: string = repoPath("test", "render", "golden");

export const goldenFile = (scenario: string): string => join(GOLDEN_DIR, `${scenario}.yaml`);

/** The golden of a scenario as committed; throws, naming the command that writes it, when there is none. */
export function readGolden(scenario: string): string {
  const file = goldenFile(scenario);
  if (!existsSync(file)) throw new Error(`${relative(REPO, file)} does not exist: run \`${GOLDENS_COMMAND}\`, review the new file and commit it`);
  return readFileSync(file, "utf8");
}

/** Golden files of scenarios that no longer exist. */
export function staleGoldens(): string[] {
  const expected = new Set(ciScenarios().map((s) => `${s.name}.yaml`));
  return readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith(".yaml") && !expected.has(f))
    .map((f) => relative(REPO, join(GOLDEN_DIR, f)));
}

/** Renders every scenario and writes its golden, and removes the stale ones; returns what it changed. */
export function writeGoldens(): { written: string[]; removed: string[] } {
  const written: string[] = [];
  for (const { name } of ciScenarios()) {
    const file = goldenFile(name);
    const rendering = renderScenario(name);
    if (existsSync(file) && readFileSync(file, "utf8") === rendering) continue;
    writeFileSync(file, rendering);
    written.push(relative(REPO, file));
  }
  const removed = staleGoldens();
  for (const file of removed) rmSync(join(REPO, file));
  return { written, removed };
}
