/** The generator's output: repo-relative path → file content. Sorted and free of I/O (style.md rule 3). */
export class GeneratedFiles {
  readonly #files = new Map<string, string>();

  add(path: string, content: string): void {
    if (this.#files.has(path)) throw new Error(`generator bug: ${path} emitted twice`);
    this.#files.set(path, content);
  }

  get(path: string): string {
    const content = this.#files.get(path);
    if (content === undefined) throw new Error(`no generated file ${path}`);
    return content;
  }

  paths(): string[] {
    return [...this.#files.keys()].sort();
  }

  entries(): [string, string][] {
    return this.paths().map((p) => [p, this.get(p)]);
  }
}
