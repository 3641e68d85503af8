/**
 * The parts of a release, as its `app.kubernetes.io/component` label names them (one of
 * Kubernetes' recommended labels): the chart sets them, NOTES.txt and the tests select by them,
 * and so do users (`kubectl get pods -l app.kubernetes.io/component=agent`).
 */
export const componentLabel = "app.kubernetes.io/component";

export const component = {
  agent: "agent",
  refresh: "refresh",
  gc: "gc",
  test: "smoke-test",
  rbac: "rbac",
  secret: "credentials",
  placeholder: "placeholder",
  autoscaling: "autoscaling",
  networkPolicy: "network-policy",
} as const;

export type Component = (typeof component)[keyof typeof component];

/** `app.kubernetes.io/component=<component>`, for label selectors. */
export const componentSelector = (name: Component): string => `${componentLabel}=${name}`;
