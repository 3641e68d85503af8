import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { GENERATED_ROOTS, generate } from "../../generator/generate.ts";
import { REPO } from "../support/repo.ts";

/** The drift gate (style.md rule 2): the generated files on disk are exactly what generate() says. */

const FIX = "run `npm run generate` and commit the result";

function filesOnDisk(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else found.push(relative(REPO, full));
    }
  };
  for (const root of GENERATED_ROOTS) walk(join(REPO, root));
  return found.sort();
}

describe("generated files", () => {
  const files = generate();

  it("should all exist on disk with the generated content", () => {
    const drift = files
      .entries()
      .filter(([path, content]) => {
        const full = join(REPO, path);
        return !existsSync(full) || readFileSync(full, "utf8") !== content;
      })
      .map(([path]) => path);
    expect(drift, `out of date — ${FIX}`).toEqual([]);
  });

  it("should leave nothing stale under the generated roots", () => {
    const wanted = new Set(files.paths());
    const stale = filesOnDisk().filter((p) => !wanted.has(p));
    expect(stale, `stale generated files — ${FIX}`).toEqual([]);
  });
});
