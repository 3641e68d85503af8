// `npm run goldens`: the only writer of test/render/golden/ (test/support/goldens.ts). Review the
// diff before committing it: every changed line is a change to what the chart renders.
import { writeGoldens } from "../support/goldens.ts";

const { written, removed } = writeGoldens();
if (written.length === 0 && removed.length === 0) process.stdout.write("goldens: all up to date\n");
for (const file of written) process.stdout.write(`goldens: wrote ${file}\n`);
for (const file of removed) process.stdout.write(`goldens: removed ${file} (no scenario renders it any more)\n`);
