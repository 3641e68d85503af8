import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { imageContract } from "../contract/image.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../template/template-document.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helpers.ts";
import {
  baseContainer,
  caBundle,
  capabilityEnv,
  component,
  containerMounts,
  containers,
  contractEnv,
  emptyDir,
  fullname,
  metadata,
  paths,
  podSecurity,
  proxyEnv,
  serviceAccountTokenVolume,
  tokenVolume,
  volumes,
} from "./pod-parts.ts";

/**
 * The agent pool: one pod per idle agent, one job per pod. Pod layout and credential isolation:
 * see generator/contract/image.ts.
 */

function registerContainer(t: TemplateDocument): IContainer {
  return {
    ...baseContainer(t, containers.register, "register"),
    // The agent scans its environment for capabilities when it registers, so they are set here too.
    env: [...contractEnv(t, "register"), ...capabilityEnv(t), ...proxyEnv(t), ...caBundle.env(t)],
    resources: t.block(v("registrarResources").yaml),
    volumeMounts: [...containerMounts("register"), ...caBundle.mounts(t)],
  };
}

function deregisterSidecar(t: TemplateDocument): IContainer {
  return {
    ...baseContainer(t, containers.deregister, "deregister"),
    // Native sidecar: started before the job container, stopped only after it has exited.
    restartPolicy: "Always",
    env: [...contractEnv(t, "deregister"), ...proxyEnv(t), ...caBundle.env(t)],
    resources: t.block(v("registrarResources").yaml),
    // The kubelet starts the job container only once this probe passed: the sidecar has found
    // its agent in Azure DevOps before any job can run. The marker is in the sidecar's private
    // /tmp, which the job container never mounts.
    startupProbe: {
      exec: { command: ["test", "-f", `${paths.tmp}/${imageContract.sidecarFiles.ready}`] },
      periodSeconds: 1,
      failureThreshold: 120,
    },
    volumeMounts: [...containerMounts("deregister"), ...caBundle.mounts(t)],
  };
}

function agentContainer(t: TemplateDocument): IContainer {
  return {
    ...baseContainer(t, containers.agent, "run"),
    env: [...contractEnv(t, "run"), ...capabilityEnv(t), ...proxyEnv(t), ...caBundle.env(t), t.spliceItems(v("extraEnv").path)],
    resources: t.block(v("resources").yaml),
    volumeMounts: [...containerMounts("agent"), ...caBundle.mounts(t), t.spliceItems(v("extraVolumeMounts").path)],
  };
}

function podSpec(t: TemplateDocument): IPodSpec {
  return {
    serviceAccountName: t.str(`${include(helper.serviceAccountName)} | quote`),
    // Only the deregister sidecar gets a token, through its own projected volume.
    automountServiceAccountToken: false,
    // No Docker-link variables for every Service of the namespace: the agent would report each
    // as a capability, and jobs have no use for them.
    enableServiceLinks: false,
    ...podSecurity(t),
    terminationGracePeriodSeconds: t.int(v("terminationGracePeriodSeconds").path),
    ...t.when(v("priorityClassName").path, { priorityClassName: t.str(v("priorityClassName").quoted) }),
    ...t.when(v("nodeSelector").path, { nodeSelector: t.block(v("nodeSelector").yaml) }),
    ...t.when(v("tolerations").path, { tolerations: t.block(v("tolerations").yaml) }),
    ...t.when(v("affinity").path, { affinity: t.block(v("affinity").yaml) }),
    ...t.when(v("topologySpreadConstraints").path, { topologySpreadConstraints: t.block(v("topologySpreadConstraints").yaml) }),
    initContainers: [registerContainer(t), deregisterSidecar(t)],
    containers: [agentContainer(t)],
    volumes: [
      emptyDir(volumes.agent),
      { name: volumes.work, ...t.spliceEntries(v("agent.workVolume").path) },
      emptyDir(volumes.state),
      emptyDir(volumes.home),
      emptyDir(volumes.tmp),
      emptyDir(volumes.registrarTmp),
      emptyDir(volumes.registrarHome),
      tokenVolume(t),
      serviceAccountTokenVolume(),
      ...caBundle.volumes(t),
      t.spliceItems(v("extraVolumes").path),
    ],
  };
}

export const deploymentTemplate: ChartTemplate = {
  file: "deployment.yaml",
  source: "generator/templates/deployment.ts",
  preamble: `{{- include "${helper.validate}" . }}\n`,
  documents: (t) => {
    const selector = { ...t.includeEntries(helper.selectorLabels), "app.kubernetes.io/component": component.agent };
    const deployment = new Deployment({
      metadata: metadata(t, fullname(), component.agent),
      spec: {
        replicas: t.int(v("replicaCount").path),
        revisionHistoryLimit: 3,
        strategy: t.block(v("updateStrategy").yaml),
        selector: { matchLabels: selector },
        template: {
          metadata: {
            annotations: {
              "kubectl.kubernetes.io/default-container": containers.agent,
              // Rolls the pods when the chart-managed PAT changes.
              ...t.when(`not ${v("azp.existingSecret").path}`, {
                "checksum/secret": t.str(`include (print $.Template.BasePath "/secret.yaml") . | sha256sum`),
              }),
              ...t.spliceEntries(v("podAnnotations").path),
            },
            labels: { ...t.includeEntries(helper.labels), "app.kubernetes.io/component": component.agent, ...t.spliceEntries(v("podLabels").path) },
          },
          spec: podSpec(t),
        },
      },
    });
    return [{ guard: null, object: deployment.toJSON() }];
  },
};
