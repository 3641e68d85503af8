// REST versioning as Azure DevOps Services enforces it (contract §1.3): the version comes in the
// query (`api-version=7.1`) or in the Accept header (`application/json; api-version=7.1`), as the
// .NET client sends it. A GET without one is served; any other method without one is refused.
// Where the real rules are unknown the fake is stricter, and says so in README.md.
import { AdoError } from "./errors.ts";

/** Versioning of one REST resource: the highest released (non-preview) version, if any. */
export interface ApiResource {
  /** Resource name used in messages, e.g. "agents". */
  readonly name: string;
  /**
   * Highest version that may be asked for without `-preview`; undefined = the resource was never
   * released, every version needs `-preview` (the undocumented `jobrequests`, `packages`,
   * `sessions` and `messages`, contract §1.3).
   */
  readonly released: ApiVersion | undefined;
}

export interface ApiVersion {
  readonly major: number;
  readonly minor: number;
  readonly preview: boolean;
}

/** The newest REST version this fake serves (Azure DevOps Services answers 7.2 at most today [I]). */
export const MAX_API_VERSION: ApiVersion = { major: 7, minor: 2, preview: false };

const VERSIONING_TYPE = (typeKey: string): string => `Microsoft.VisualStudio.Services.WebApi.${typeKey}, Microsoft.VisualStudio.Services.WebApi`;

export const versionErrors = {
  // [R] contract §1.3 (message verbatim).
  notSpecified: (method: string): AdoError =>
    new AdoError(
      400,
      "VssVersionNotSpecifiedException",
      `No api-version was supplied for the "${method}" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. "?api-version=1.0").`,
      VERSIONING_TYPE("VssVersionNotSpecifiedException"),
    ),
  // [R] azure-sdk-for-js#29854 quotes the service's message for a preview-only version asked without -preview.
  previewRequired: (text: string): AdoError =>
    new AdoError(
      400,
      "VssInvalidPreviewVersionException",
      `The requested version "${text}" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "${text}-preview"`,
      VERSIONING_TYPE("VssInvalidPreviewVersionException"),
    ),
  // [I] stricter than known: a version that does not parse is refused, on every method.
  invalid: (text: string): AdoError =>
    new AdoError(400, "VssInvalidApiVersionException", `The api-version '${text}' is not valid: expected '<major>.<minor>' or '<major>.<minor>-preview[.<n>]'.`, VERSIONING_TYPE("VssInvalidApiVersionException")),
  // [I] message shape; the service refuses versions above what it serves.
  outOfRange: (text: string): AdoError =>
    new AdoError(
      400,
      "VssVersionOutOfRangeException",
      `The requested REST API version of ${text} is out of range for this server. The latest REST API version this server supports is ${MAX_API_VERSION.major}.${MAX_API_VERSION.minor}.`,
      VERSIONING_TYPE("VssVersionOutOfRangeException"),
    ),
} as const;

const VERSION = /^(\d+)\.(\d+)(-preview(\.\d+)?)?$/i;

export function parseApiVersion(text: string): ApiVersion | undefined {
  const match = VERSION.exec(text.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), preview: match[3] !== undefined };
}

const compare = (a: ApiVersion, b: ApiVersion): number => a.major - b.major || a.minor - b.minor;

/** The version the client asked for: the query wins over the Accept header; undefined if neither has one. */
export function requestedVersionText(queryValue: string | undefined, accept: string | undefined): string | undefined {
  if (queryValue !== undefined && queryValue !== "") return queryValue;
  return /api-version=([^;,\s]+)/i.exec(accept ?? "")?.[1];
}

/**
 * Throws the service's error for a request the versioning rules refuse; returns the version to
 * echo in Content-Type otherwise.
 */
export function checkApiVersion(method: string, resource: ApiResource, text: string | undefined): string {
  if (text === undefined) {
    if (method !== "GET" && method !== "HEAD") throw versionErrors.notSpecified(method);
    return resource.released === undefined ? "7.1" : `${resource.released.major}.${resource.released.minor}`;
  }
  const version = parseApiVersion(text);
  if (version === undefined) throw versionErrors.invalid(text);
  if (compare(version, MAX_API_VERSION) > 0) throw versionErrors.outOfRange(text);
  if (!version.preview && (resource.released === undefined || compare(version, resource.released) > 0)) throw versionErrors.previewRequired(text);
  return text;
}

/** Resources of the fake with their released versions (contract §1.3; swagger `taskAgent-7.1.json`). */
export const apiResources = {
  /**
   * Location service: the .NET client asks without a version (a GET); with one, only a preview
   * version is accepted (third-party reports of `7.1` answered VssInvalidPreviewVersionException).
   */
  connectionData: { name: "connectionData", released: undefined },
  /** GA in the 7.1 spec: pools and pools/{id}/agents. */
  pools: { name: "pools", released: { major: 7, minor: 1, preview: false } },
  agents: { name: "agents", released: { major: 7, minor: 1, preview: false } },
  /** Not in the spec: preview only (stricter than the one captured listing, contract §3.2). */
  packages: { name: "packages", released: undefined },
  jobrequests: { name: "jobrequests", released: undefined },
  sessions: { name: "sessions", released: undefined },
  messages: { name: "messages", released: undefined },
  /** Fake-only log upload of the job's output [I]. */
  logs: { name: "logs", released: undefined },
} as const satisfies Record<string, ApiResource>;
