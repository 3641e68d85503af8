import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { component, componentLabel } from "../contract/components.ts";
import { v } from "../model/values.ts";
import { agentPodMetadata, agentPodSpec } from "./agent-pod.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper } from "./helper-names.ts";
import { fullname, metadata } from "./pod-parts.ts";

/**
 * The agent pool of the article: one pod per idle agent, one job per pod, each pod replaced after
 * its job (`autoscaling.enabled=false`, the default; with autoscaling, scaledjob.ts renders KEDA's
 * ScaledJob from the same pod emitter instead).
 */
export const deploymentTemplate: ChartTemplate = {
  file: "deployment.yaml",
  source: "generator/templates/deployment.ts",
  preamble: `{{- include "${helper.validate}" . }}\n`,
  documents: (t) => {
    const selector = { ...t.includeEntries(helper.selectorLabels), [componentLabel]: component.agent };
    const deployment = new Deployment({
      metadata: metadata(t, fullname(), component.agent),
      spec: {
        replicas: t.int(v("replicaCount").path),
        revisionHistoryLimit: 3,
        strategy: t.block(v("updateStrategy").yaml),
        selector: { matchLabels: selector },
        template: { metadata: agentPodMetadata(t), spec: agentPodSpec(t, "replace") },
      },
    });
    return [{ guard: `not ${v("autoscaling.enabled").path}`, object: deployment.toJSON() }];
  },
};
