import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { component, componentLabel } from "../contract/components.ts";
import { imageContract } from "../contract/image.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import { helper, include } from "./helper-names.ts";
import {
  baseContainer,
  caBundle,
  capabilityEnv,
  containerMounts,
  containers,
  contractEnv,
  emptyDir,
  paths,
  podSecurity,
  proxyEnv,
  auth,
  credentialVolumes,
  registrationResources,
  serviceAccountTokenVolume,
  volumes,
} from "./pod-parts.ts";

/**
 * The agent pod: one emitter for the Deployment's pods and for KEDA's Job pods, so the two
 * differ only where they must (issue #9). Pod layout and credential isolation: see
 * generator/contract/image.ts.
 *
 *   replace   (Deployment) the sidecar deletes its own pod once the agent is removed, and the
 *             Deployment starts a fresh one: the sidecar mounts a Kubernetes token for that.
 *   complete  (KEDA Job) the containers exit once the agent is removed and the pod completes:
 *             no Kubernetes token anywhere in the pod, `restartPolicy: Never`, and the sidecar is
 *             Ready only once Azure DevOps has given its agent a job (a file in its private
 *             /tmp, which no job can touch), which is how KEDA's `pendingPodConditions` tells a
 *             pod still waiting for a job from a busy one.
 */
export type PodLifecycle = "replace" | "complete";

function registerContainer(t: TemplateDocument): IContainer {
  return {
    ...baseContainer(t, "register"),
    // The agent scans its environment for capabilities when it registers, so they are set here too.
    env: [...contractEnv(t, "register"), ...capabilityEnv(t), ...proxyEnv(t), ...caBundle.env(t)],
    resources: registrationResources(t),
    volumeMounts: [...containerMounts(t, "register"), ...caBundle.mounts(t)],
  };
}

function deregisterSidecar(t: TemplateDocument, lifecycle: PodLifecycle): IContainer {
  const mounts = containerMounts(t, "deregister").filter((m) => lifecycle === "replace" || m.name !== volumes.serviceAccount);
  return {
    ...baseContainer(t, "deregister"),
    // Native sidecar: started before the job container, stopped only after it has exited.
    restartPolicy: "Always",
    env: [...contractEnv(t, "deregister"), ...proxyEnv(t), ...caBundle.env(t)],
    resources: registrationResources(t),
    // The kubelet starts the job container only once this probe passed: the sidecar has found
    // its agent in Azure DevOps before any job can run. The marker is in the sidecar's private
    // /tmp, which the job container never mounts.
    startupProbe: {
      exec: { command: ["test", "-f", `${paths.tmp}/${imageContract.sidecarFiles.ready}`] },
      periodSeconds: 1,
      failureThreshold: 120,
    },
    ...(lifecycle === "complete"
      ? {
          // Ready = Azure DevOps has assigned a job to this pod's agent (the sidecar's own record).
          readinessProbe: {
            exec: { command: ["test", "-f", `${paths.tmp}/${imageContract.sidecarFiles.request}`] },
            periodSeconds: 2,
            timeoutSeconds: 5,
            failureThreshold: 3,
          },
        }
      : {}),
    volumeMounts: [...mounts, ...caBundle.mounts(t)],
  };
}

function agentContainer(t: TemplateDocument): IContainer {
  return {
    ...baseContainer(t, "agent"),
    env: [...contractEnv(t, "agent"), ...capabilityEnv(t), ...proxyEnv(t), ...caBundle.env(t), t.spliceItems(v("extraEnv").path)],
    resources: t.block(v("resources").yaml),
    volumeMounts: [...containerMounts(t, "agent"), ...caBundle.mounts(t), t.spliceItems(v("extraVolumeMounts").path)],
  };
}

export function agentPodSpec(t: TemplateDocument, lifecycle: PodLifecycle): IPodSpec {
  return {
    serviceAccountName: t.str(`${include(helper.serviceAccountName)} | quote`),
    // Only the deregister sidecar of a Deployment's pod gets a token, through its own projected volume.
    automountServiceAccountToken: false,
    // No Docker-link variables for every Service of the namespace: the agent would report each
    // as a capability, and jobs have no use for them.
    enableServiceLinks: false,
    ...(lifecycle === "complete" ? { restartPolicy: "Never" } : {}),
    ...podSecurity(t),
    terminationGracePeriodSeconds: t.int(v("terminationGracePeriodSeconds").path),
    ...t.when(v("priorityClassName").path, { priorityClassName: t.str(v("priorityClassName").quoted) }),
    ...t.when(v("nodeSelector").path, { nodeSelector: t.block(v("nodeSelector").yaml) }),
    ...t.when(v("tolerations").path, { tolerations: t.block(v("tolerations").yaml) }),
    ...t.when(v("affinity").path, { affinity: t.block(v("affinity").yaml) }),
    ...t.when(v("topologySpreadConstraints").path, { topologySpreadConstraints: t.block(v("topologySpreadConstraints").yaml) }),
    initContainers: [registerContainer(t), deregisterSidecar(t, lifecycle)],
    containers: [agentContainer(t)],
    volumes: [
      emptyDir(volumes.agent),
      { name: volumes.work, ...t.spliceEntries(v("agent.workVolume").path) },
      emptyDir(volumes.state),
      emptyDir(volumes.home),
      emptyDir(volumes.tmp),
      emptyDir(volumes.registrarTmp),
      emptyDir(volumes.registrarHome),
      ...credentialVolumes(t),
      ...(lifecycle === "replace" ? [serviceAccountTokenVolume()] : []),
      ...caBundle.volumes(t),
      t.spliceItems(v("extraVolumes").path),
    ],
  };
}

/** The pod template's metadata: the same labels and annotations for both lifecycles. */
export function agentPodMetadata(t: TemplateDocument): object {
  return {
    annotations: {
      "kubectl.kubernetes.io/default-container": containers.agent,
      // Rolls the pods when the chart-managed PAT or client secret changes.
      ...t.when(auth.chartSecret, {
        "checksum/secret": t.str(`include (print $.Template.BasePath "/secret.yaml") . | sha256sum`),
      }),
      // Azure's workload identity webhook, if the user turns it on for these pods, must not put
      // the identity into the job container (it would inject into every container).
      ...t.when(auth.federated, { "azure.workload.identity/skip-containers": containers.agent }),
      ...t.spliceEntries(v("podAnnotations").path),
    },
    labels: { ...t.includeEntries(helper.labels), [componentLabel]: component.agent, ...t.spliceEntries(v("podLabels").path) },
  };
}
