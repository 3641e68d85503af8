import { GeneratedFiles } from "./chart/files.ts";
import { chartYaml } from "./chart/chart-yaml.ts";
import { scenarios } from "./chart/scenarios.ts";
import { valuesSchema } from "./chart/values-schema.ts";
import { valuesYaml } from "./chart/values-yaml.ts";
import { devStamp, release, type ReleaseStamp } from "./contract/release.ts";
import { chartReadme } from "./docs/chart-readme.ts";
import { generatedHeader } from "./generated-header.ts";
import { imageFiles } from "./image/image-contract-files.ts";
import { buildValuesModel } from "./model/values-model.ts";
import { renderTemplate, type ChartTemplate } from "./templates/chart-template.ts";
import { admissionPolicyTemplate } from "./templates/admission-policy.ts";
import { cronJobTemplate } from "./templates/cronjob.ts";
import { deploymentTemplate } from "./templates/deployment.ts";
import { helpersTpl } from "./templates/helpers.ts";
import { networkPolicyTemplate } from "./templates/network-policy.ts";
import { namespaceTemplate } from "./templates/namespace.ts";
import { placeholderTemplate } from "./templates/placeholder.ts";
import { scaledJobTemplate } from "./templates/scaledjob.ts";
import { notesTxt } from "./templates/notes.ts";
import { roleBindingTemplate, roleTemplate, serviceAccountTemplate } from "./templates/rbac.ts";
import { secretTemplate } from "./templates/secret.ts";
import { smokeTestTemplate } from "./templates/tests/smoke-test.ts";
import yaml from "js-yaml";
import { readFileSync } from "node:fs";

export const CHART_DIR = `chart/${release.chartName}`;

/**
 * The values schema's copy among the repository's schemas (`schema/`, next to chart-testing's
 * yamale schema of Chart.yaml): a stable path for editors and for checking values files outside
 * the chart (`# yaml-language-server: $schema=…/schema/values.schema.json`).
 */
export const VALUES_SCHEMA_COPY = "schema/values.schema.json";

/**
 * Roots the CLI owns (folders, or single files): files under them that `generate()` no longer
 * emits are stale and removed.
 */
export const GENERATED_ROOTS = [CHART_DIR, "agent-image/generated", VALUES_SCHEMA_COPY] as const;

/** Every template of the chart: the resources of the article, KEDA's (autoscaling), the hooks. */
export const chartTemplates: ChartTemplate[] = [
  namespaceTemplate,
  secretTemplate,
  serviceAccountTemplate,
  roleTemplate,
  roleBindingTemplate,
  admissionPolicyTemplate,
  networkPolicyTemplate,
  deploymentTemplate,
  scaledJobTemplate,
  placeholderTemplate,
  cronJobTemplate,
  smokeTestTemplate,
];

const HELMIGNORE = [generatedHeader.hash("generator/generate.ts"), ".DS_Store", "*.tmp", "*.orig", "*~", ".git/", ""].join("\n");

/** The release notes Chart.yaml's `artifacthub.io/changes` come from (a hand-written file). */
export const CHANGELOG = new URL("../CHANGELOG.md", import.meta.url);

/**
 * Deterministic: contract (+ CHANGELOG.md) → every generated file. `stamp` is a release's
 * (tools/release.sh): the chart then pulls the published image by digest.
 */
export function generate(stamp: ReleaseStamp = devStamp): GeneratedFiles {
  const files = new GeneratedFiles();
  const valuesModel = buildValuesModel(stamp);
  const chart = (path: string, content: string): void => files.add(`${CHART_DIR}/${path}`, content);
  chart("Chart.yaml", chartYaml(readFileSync(CHANGELOG, "utf8"), stamp));
  chart(".helmignore", HELMIGNORE);
  chart("values.yaml", valuesYaml(valuesModel));
  const schema = `${JSON.stringify(valuesSchema(valuesModel), null, 2)}\n`;
  chart("values.schema.json", schema);
  files.add(VALUES_SCHEMA_COPY, schema);
  chart("README.md", chartReadme(valuesModel, stamp));
  chart("templates/_helpers.tpl", helpersTpl());
  chart("templates/NOTES.txt", notesTxt());
  for (const template of chartTemplates) chart(`templates/${template.file}`, renderTemplate(template));
  for (const scenario of scenarios) {
    const header = `${generatedHeader.hash("generator/chart/scenarios.ts")}\n# ${scenario.description}\n`;
    chart(`ci/${scenario.name}-values.yaml`, `${header}${yaml.dump(scenario.values, { lineWidth: -1 })}`);
  }
  imageFiles(files);
  return files;
}
