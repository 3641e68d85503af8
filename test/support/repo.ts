import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHART_DIR } from "../../generator/generate.ts";

/** Absolute path of the repository root (tests run from anywhere). */
export const REPO: string = fileURLToPath(new URL("../..", import.meta.url));

export const repoPath = (...parts: string[]): string => join(REPO, ...parts);

/** The generated chart on disk: what users install and what the render tests exercise. */
export const CHART_PATH: string = repoPath(CHART_DIR);
