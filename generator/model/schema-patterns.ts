/** Patterns for the domain's closed formats, shared by the values model and its tests. */
export const patterns = {
  /**
   * Organization URL as users paste it from the browser: http(s), a host, optional path segments,
   * an optional trailing slash (the chart drops it: KEDA derives the organization name from the
   * last segment and rejects a trailing `/`, ado-contract.md §1.1).
   */
  url: "^https?://[^\\s/?#]+(/[^\\s/?#]+)*/?$",
  /** A proxy URL: http(s), a host, optional userinfo and port, optional path. */
  proxyUrl: "^https?://[^\\s/?#]+(/[^\\s?#]*)?$",
  /** A package URL: https only (the agent runs with the registration's credential). */
  httpsUrl: "^https://[^\\s/?#]+(/[^\\s]*)?$",
  /** SHA-256 in hex (64 digits; the agent ignores '-' and case, so does the image). */
  sha256: "^[0-9a-fA-F-]{64,80}$",
  /** Five cron fields, or one of the macros CronJob accepts. */
  cron: "^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\\S+\\s+){4}\\S+)$",
  /** Kubernetes resource quantity (resource.Quantity). */
  quantity: "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$",
  /** DNS-1123 subdomain: Secret, ServiceAccount and PriorityClass names. */
  dnsSubdomain: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
  /** DNS-1123 label: namespace names. */
  dnsLabel: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
  /** A Secret data key. */
  secretKey: "^[-._a-zA-Z0-9]+$",
  /** Environment variable names the agent turns into capabilities. */
  envName: "^[A-Za-z_][A-Za-z0-9_]*$",
  /** IANA time zone name as CronJob `timeZone` takes it (empty: the controller's zone). */
  timeZone: "^$|^[A-Za-z][A-Za-z0-9_+\\-]*(/[A-Za-z0-9_+\\-]+)*$",
  /** Image repository reference without tag. */
  imageRepository: "^[a-z0-9]+([._\\-/:][a-z0-9]+)*$",
  /** A GUID (Entra client and tenant ids). */
  guid: "^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
  /** An Entra tenant: its id, or one of its domain names (contoso.onmicrosoft.com). */
  entraTenant: "^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$|^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$",
  /** An IPv4 address (dotted quad). */
  ipv4: "^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$",
  /** An IPv4 or IPv6 CIDR, as NetworkPolicy's ipBlock takes it. */
  cidr: "^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}/([0-9]|[12][0-9]|3[0-2])|[0-9a-fA-F:]*:[0-9a-fA-F:]*/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))$",
  /** IPv4-mapped IPv6 (`::ffff:…`): IPv4 addresses in disguise, which the metadata check cannot see. */
  ipv4MappedIpv6: "^::[fF]{4}:",
  /** An https URL without query or fragment (an Entra authority). */
  authorityUrl: "^https://[^\\s/?#]+(/[^\\s?#]*)?$",
  /** Image tag. */
  imageTag: "^$|^[\\w][\\w.\\-]{0,127}$",
  imageDigest: "^$|^sha256:[a-f0-9]{64}$",
} as const;
