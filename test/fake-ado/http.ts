// Minimal HTTP plumbing on node:http: case-insensitive query access, bounded body reads and the
// response conventions of contract §1.4 (camelCase JSON, `api-version` echoed in Content-Type).
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { AdoError, adoErrors } from "./errors.ts";

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Query parameters with case-insensitive names (contract §3: ASP.NET binding ignores case). */
export class Query {
  private readonly values = new Map<string, string>();

  constructor(search: URLSearchParams) {
    for (const [key, value] of search) {
      const name = key.toLowerCase();
      // First occurrence wins, like ASP.NET's simple-type binding.
      if (!this.values.has(name)) this.values.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.values.get(name.toLowerCase());
  }

  has(name: string): boolean {
    return this.values.has(name.toLowerCase());
  }

  /** C# renders booleans as `True`/`False` (contract §3.7.1), so compare case-insensitively. */
  bool(name: string): boolean {
    return (this.get(name) ?? "").toLowerCase() === "true";
  }

  int(name: string): number | undefined {
    const raw = this.get(name);
    if (raw === undefined || raw.trim() === "") return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value)) throw adoErrors.badRequest(`Query parameter '${name}' must be an integer, got '${raw}'.`);
    return value;
  }

  intList(name: string): number[] | undefined {
    const raw = this.get(name);
    if (raw === undefined) return undefined;
    return raw
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "")
      .map((part) => {
        const value = Number(part);
        if (!Number.isInteger(value)) throw adoErrors.badRequest(`Query parameter '${name}' must be a list of integers.`);
        return value;
      });
  }
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw adoErrors.payloadTooLarge(MAX_BODY_BYTES);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = (await readBody(req)).toString("utf8").replace(/^\uFEFF/, "");
  if (raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw adoErrors.badRequest("The request body is not valid JSON.");
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function commonHeaders(res: ServerResponse): void {
  // Every service response carries an ActivityId; handy for correlating the request log.
  if (!res.hasHeader("ActivityId")) res.setHeader("ActivityId", randomUUID());
}

export function sendJson(res: ServerResponse, status: number, body: unknown, apiVersion = "7.1", headers: Record<string, string> = {}): void {
  const payload = Buffer.from(JSON.stringify(body), "utf8");
  commonHeaders(res);
  res.writeHead(status, {
    "Content-Type": `application/json; charset=utf-8; api-version=${apiVersion}`,
    "Content-Length": String(payload.length),
    ...headers,
  });
  res.end(payload);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  commonHeaders(res);
  res.writeHead(status, { "Content-Length": "0", ...headers });
  res.end();
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  const payload = Buffer.from(text, "utf8");
  commonHeaders(res);
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": String(payload.length), ...headers });
  res.end(payload);
}

export function sendAdoError(res: ServerResponse, error: AdoError, headers: Record<string, string> = {}): void {
  sendJson(res, error.status, error.body(), "7.1", headers);
}

/** Collapses `//` (clients that keep a trailing `/` in the org URL, contract §1.1) and drops a trailing `/`. */
export function normalizePath(pathname: string): string {
  const collapsed = pathname.replace(/\/{2,}/g, "/");
  return collapsed.length > 1 ? collapsed.replace(/\/$/, "") : collapsed;
}

/** Matches `/a/:b/c` style templates case-insensitively (ASP.NET routes ignore case); returns params or undefined. */
export function matchRoute(template: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (template.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < template.length; index++) {
    const expected = template[index] ?? "";
    const actual = segments[index] ?? "";
    if (expected.startsWith(":")) params[expected.slice(1)] = decodeURIComponent(actual);
    else if (expected.toLowerCase() !== actual.toLowerCase()) return undefined;
  }
  return params;
}

export function parseIntParam(value: string | undefined, name: string): number {
  const parsed = Number(value);
  if (value === undefined || !Number.isInteger(parsed)) throw adoErrors.badRequest(`Route value '${name}' must be an integer, got '${value ?? ""}'.`);
  return parsed;
}
