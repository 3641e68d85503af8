// Agent packages offered by `packages/agent` (contract §3.3) and served anonymously from the
// fake's own download path (§3.4: the real CDN is anonymous; the fake has no internet).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";

export type PackageType = "agent" | "pipelines-agent";

/** One agent package version; the same bytes are offered for every listed platform. */
export interface FakeAdoPackage {
  /** `major.minor.patch`, e.g. "4.264.2". */
  version: string;
  /** @default ["linux-x64"] */
  platforms?: string[];
  /** @default "agent" */
  type?: PackageType;
  /** Path of the tar.gz to serve. Exactly one of `file` / `data`. */
  file?: string;
  /** In-memory tar.gz bytes. Exactly one of `file` / `data`. */
  data?: Buffer;
  /** @default the server start time */
  createdOn?: Date;
  /** `hashValue` is EmitDefaultValue=false in PackageMetadata.cs: the service may omit it. @default true */
  publishHash?: boolean;
}

export interface CatalogEntry {
  type: PackageType;
  platform: string;
  version: string;
  createdOn: number;
  filename: string;
  /** Lowercase hex SHA-256 of the served bytes (§3.3 hashValue). */
  sha256: string;
  size: number;
  /** Whether `hashValue` is published. */
  publishHash: boolean;
  source: { file: string } | { data: Buffer };
}

/** §4.2 naming: vsts-agent-<platform>-<ver>.tar.gz / pipelines-agent-<platform>-<ver>.tar.gz. */
export function packageFilename(type: PackageType, platform: string, version: string): string {
  return `${type === "agent" ? "vsts-agent" : "pipelines-agent"}-${platform}-${version}.tar.gz`;
}

/** Path under the server origin (outside the org, like the CDN host). */
export function downloadPath(entry: Pick<CatalogEntry, "type" | "version" | "filename">): string {
  return `/_downloads/${entry.type}/${entry.version}/${entry.filename}`;
}

function compareVersionsDescending(a: string, b: string): number {
  const left = a.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const right = b.split(".").map((part) => Number.parseInt(part, 10) || 0);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (right[index] ?? 0) - (left[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    hash.update(buffer);
  }
  return { sha256: hash.digest("hex"), size };
}

export class PackageCatalog {
  private readonly entries: CatalogEntry[];

  private constructor(entries: CatalogEntry[]) {
    this.entries = entries;
  }

  static async load(packages: readonly FakeAdoPackage[]): Promise<PackageCatalog> {
    const startedAt = Date.now();
    const entries: CatalogEntry[] = [];
    for (const pkg of packages) {
      if (!/^\d+\.\d+\.\d+$/.test(pkg.version)) throw new Error(`fake-ado: package version must be major.minor.patch, got '${pkg.version}'`);
      if ((pkg.file === undefined) === (pkg.data === undefined)) throw new Error("fake-ado: a package needs exactly one of 'file' or 'data'");
      const { sha256, size } =
        pkg.file !== undefined
          ? (await stat(pkg.file), await hashFile(pkg.file))
          : { sha256: createHash("sha256").update(pkg.data ?? Buffer.alloc(0)).digest("hex"), size: pkg.data?.length ?? 0 };
      const type = pkg.type ?? "agent";
      for (const platform of pkg.platforms ?? ["linux-x64"]) {
        entries.push({
          type,
          platform,
          version: pkg.version,
          createdOn: pkg.createdOn?.getTime() ?? startedAt,
          filename: packageFilename(type, platform, pkg.version),
          sha256,
          publishHash: pkg.publishHash ?? true,
          size,
          source: pkg.file !== undefined ? { file: pkg.file } : { data: pkg.data ?? Buffer.alloc(0) },
        });
      }
    }
    return new PackageCatalog(entries);
  }

  /** §3.3: newest version first, so `.value[0]` is the latest. */
  list(type: string, platform: string | undefined): CatalogEntry[] {
    return this.entries
      .filter((entry) => entry.type === type.toLowerCase() && (platform === undefined || entry.platform.toLowerCase() === platform.toLowerCase()))
      .sort((a, b) => compareVersionsDescending(a.version, b.version) || a.platform.localeCompare(b.platform));
  }

  find(type: string, platform: string, version: string): CatalogEntry | undefined {
    return this.list(type, platform).find((entry) => entry.version === version);
  }

  byDownloadPath(path: string): CatalogEntry | undefined {
    return this.entries.find((entry) => downloadPath(entry).toLowerCase() === path.toLowerCase());
  }

  async serve(entry: CatalogEntry, method: string, res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      "Content-Type": "application/gzip",
      "Content-Length": String(entry.size),
      "Content-Disposition": `attachment; filename=${entry.filename}`,
    });
    if (method === "HEAD") {
      res.end();
      return;
    }
    if ("data" in entry.source) {
      res.end(entry.source.data);
      return;
    }
    await pipeline(createReadStream(entry.source.file), res);
  }
}
