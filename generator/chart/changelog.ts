/**
 * CHANGELOG.md (Keep a Changelog) → Artifact Hub's `artifacthub.io/changes` entries for one
 * version. The changelog is written by people; this module only reads it, and refuses a
 * changelog without a section for the chart's version, so no release ships without its notes.
 */

/** Artifact Hub's change kinds, keyed by the Keep a Changelog heading that holds them. */
const KINDS = {
  Added: "added",
  Changed: "changed",
  Deprecated: "deprecated",
  Removed: "removed",
  Fixed: "fixed",
  Security: "security",
} as const;

export type ChangeKind = (typeof KINDS)[keyof typeof KINDS];

export interface Change {
  readonly kind: ChangeKind;
  readonly description: string;
}

/** The entries of `## [<version>]`, in the changelog's order; throws naming the problem and the fix. */
export function changesFor(markdown: string, version: string, source = "CHANGELOG.md"): Change[] {
  const lines = markdown.split(/\r?\n/);
  const header = lines.findIndex((line) => new RegExp(`^## \\[${version.replace(/\./g, "\\.")}\\](\\s|$)`).test(line));
  if (header < 0) throw new Error(`${source} has no section "## [${version}] - <date>": add the release notes of ${version} before generating its chart`);
  const changes: Change[] = [];
  let kind: ChangeKind | undefined;
  for (let i = header + 1; i < lines.length && !lines[i]!.startsWith("## "); i++) {
    const line = lines[i]!;
    const heading = /^### (.+?)\s*$/.exec(line);
    if (heading) {
      const name = heading[1]!;
      if (!(name in KINDS)) throw new Error(`${source}:${i + 1}: unknown heading "### ${name}" (use one of: ${Object.keys(KINDS).join(", ")})`);
      kind = KINDS[name as keyof typeof KINDS];
      continue;
    }
    const item = /^[-*] (.+)$/.exec(line);
    if (item) {
      if (kind === undefined) throw new Error(`${source}:${i + 1}: entry before any "### <kind>" heading in [${version}]`);
      changes.push({ kind, description: item[1]!.trim() });
      continue;
    }
    if (line.trim() !== "") throw new Error(`${source}:${i + 1}: not an entry: write one "- " line per change in [${version}]`);
  }
  if (changes.length === 0) throw new Error(`${source}: [${version}] lists no changes`);
  return changes;
}
