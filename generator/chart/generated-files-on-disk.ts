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

/** Files currently under the generated roots, a root being a folder or a single file (repo-relative, sorted). */
export function filesOnDisk(repo: string, roots: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    if (!existsSync(path)) return;
    if (!statSync(path).isDirectory()) {
      found.push(relative(repo, path));
      return;
    }
    for (const name of readdirSync(path)) walk(join(path, name));
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
