import { generatedHeader } from "../generated-header.ts";
import { TemplateDocument } from "../go-template/template-document.ts";

/** One file under `templates/`: a header, an optional guard, and one or more typed documents. */
export interface ChartTemplate {
  /** Path under `templates/`, e.g. `deployment.yaml`. */
  readonly file: string;
  /** The emitter, for the generated-file header. */
  readonly source: string;
  /** Builds the typed objects; each gets its own guard (`null` = always rendered). */
  readonly documents: (t: TemplateDocument) => { guard: string | null; object: unknown }[];
  /** Template lines placed before the first document (e.g. the validation include). */
  readonly preamble?: string;
}

export function renderTemplate(template: ChartTemplate): string {
  const t = new TemplateDocument();
  const docs = template.documents(t);
  // One dump per document keeps each guard around exactly its document.
  const parts = docs.map(({ guard, object }) => {
    const yaml = t.render(object);
    return guard === null ? `---\n${yaml}` : `{{- if ${guard} }}\n---\n${yaml}{{- end }}\n`;
  });
  t.assertComplete();
  return `${generatedHeader.goTemplate(template.source)}\n${template.preamble ?? ""}${parts.join("")}`;
}
