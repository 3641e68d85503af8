import Handlebars from "handlebars";
import { readFileSync } from "node:fs";
import { imageContract } from "../contract/image.ts";
import { chartRepositoryIn, devStamp, imageRepositoryIn, release, signKeyUrl, type ReleaseStamp } from "../contract/release.ts";
import { generatedHeader } from "../generated-header.ts";
import { leaves, type GroupSpec, type JsonValue } from "../model/value-spec.ts";
import { crossFieldRules, ruleText } from "../templates/cross-field-rules.ts";

/**
 * The chart's README, a human document: Handlebars (compiled strict) is used here and only here
 * (style.md rule 5). Nothing Helm parses comes out of Handlebars.
 */

const template = Handlebars.compile(readFileSync(new URL("./chart-readme.md.hbs", import.meta.url), "utf8"), {
  strict: true,
  noEscape: true,
});

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function defaultCell(value: JsonValue, note: string | undefined): string {
  if (note !== undefined) return cell(note);
  return `\`${cell(JSON.stringify(value))}\``;
}

export function chartReadme(model: GroupSpec, stamp: ReleaseStamp = devStamp): string {
  const { containers } = imageContract;
  return template({
    header: generatedHeader.html("generator/docs/chart-readme.ts from generator/docs/chart-readme.md.hbs", "those"),
    chart: {
      name: release.chartName,
      description: release.description,
      version: release.chartVersion,
      image: `${imageRepositoryIn(stamp.registry)}:${release.imageTag}`,
      chartReference: `${chartRepositoryIn(stamp.registry)}/${release.chartName}`,
      chartOci: chartRepositoryIn(stamp.registry).replace(/^oci:\/\//, ""),
      home: release.home,
      signKeyUrl: signKeyUrl(),
      agentVersion: release.agentVersion,
      kubeVersion: release.kubeVersion,
    },
    containers: [
      { name: containers.register, role: "init: copies or downloads the agent, registers it", holds: "PAT" },
      { name: containers.deregister, role: "native sidecar: waits for the job, removes the agent, deletes the pod", holds: "PAT, Kubernetes token" },
      { name: containers.agent, role: "`run.sh --once`: your job", holds: "the agent's own registration credential only" },
    ],
    rules: crossFieldRules().map((rule) => cell(ruleText(rule))),
    values: [...leaves(model)].map(([path, spec]) => ({
      key: path.join("."),
      type: String(spec.schema["type"] ?? "any"),
      default: defaultCell(spec.default, spec.defaultNote),
      description: cell(spec.description),
    })),
  });
}
