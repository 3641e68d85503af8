import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { GeneratedFiles } from "./files.ts";

/**
 * How the generated files on disk differ from `generate()`: the drift gate of the CLI
 * (`--check`) and of the sync test. The only I/O-reading part of the generator besides the CLI.
 */
export interface Drift {
  readonly path: string;
  readonly kind: "missing" | "changed" | "stale";
}

/** Files currently under the generated roots (repo-relative, sorted). */
export function filesOnDisk(repo: string, roots: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else found.push(relative(repo, full));
    }
  };
  for (const root of roots) walk(join(repo, root));
  return found.sort();
}

export function drift(repo: string, roots: readonly string[], files: GeneratedFiles): Drift[] {
  const out: Drift[] = [];
  for (const [path, content] of files.entries()) {
    const full = join(repo, path);
    if (!existsSync(full)) out.push({ path, kind: "missing" });
    else if (readFileSync(full, "utf8") !== content) out.push({ path, kind: "changed" });
  }
  const wanted = new Set(files.paths());
  for (const path of filesOnDisk(repo, roots)) if (!wanted.has(path)) out.push({ path, kind: "stale" });
  return out;
}
