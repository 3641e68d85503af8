/**
 * What a bash script reads from and assigns to its environment, found by reading its text.
 * Deliberately simple: the image's scripts read their inputs with literal names (`${AZP_URL:-}`),
 * a convention agent-image/lib/common.sh states so that this comparison is possible.
 */

const NAME = "[A-Za-z_][A-Za-z0-9_]*";

/** The script without comment lines (a comment may mention a variable it does not read). */
export function stripComments(text: string): string {
  return text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n");
}

/** Names expanded anywhere: `$NAME`, `${NAME}`, `${NAME:-x}`, `${#NAME}`, `${!NAME}`. */
export function referencedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of stripComments(text).matchAll(new RegExp(`\\$\\{[#!]?(${NAME})|\\$(${NAME})`, "g"))) names.add((m[1] ?? m[2]) as string);
  return names;
}

/** Names the script gives a value itself (so they are not inputs), whatever the form of assignment. */
export function assignedNames(text: string): Set<string> {
  const body = stripComments(text);
  const names = new Set<string>();
  const add = (name: string | undefined): void => {
    if (name !== undefined) names.add(name);
  };
  // NAME=… / NAME+=… where a command starts (not inside a message such as "set X=y").
  for (const m of body.matchAll(new RegExp(`(?:^|[;&|({]|\\bthen|\\bdo|\\belse)[ \\t]*(${NAME})\\+?=`, "gm"))) add(m[1]);
  // declare/local/readonly/export/typeset [-opts] NAME [NAME=…] …
  for (const m of body.matchAll(new RegExp(`\\b(?:declare|local|readonly|export|typeset)((?:\\s+-[A-Za-z]+)*)((?:[ \\t]+${NAME}(?:=\\S*)?)+)`, "g"))) {
    for (const word of (m[2] ?? "").trim().split(/\s+/)) add(/^[A-Za-z_][A-Za-z0-9_]*/.exec(word)?.[0]);
  }
  // printf -v NAME, read [-opts] NAME…, mapfile/readarray [-opts] NAME, for NAME in
  for (const m of body.matchAll(new RegExp(`\\bprintf\\s+-v\\s+(${NAME})`, "g"))) add(m[1]);
  for (const m of body.matchAll(new RegExp(`\\bread((?:\\s+-[A-Za-z]+(?:\\s+'[^']*'|\\s+"[^"]*"|\\s+\\d+)?)*)((?:[ \\t]+${NAME})+)`, "g"))) {
    for (const word of (m[2] ?? "").trim().split(/\s+/)) add(word);
  }
  for (const m of body.matchAll(new RegExp(`\\b(?:mapfile|readarray)(?:\\s+-[A-Za-z]+)*\\s+(${NAME})`, "g"))) add(m[1]);
  for (const m of body.matchAll(new RegExp(`\\bfor\\s+(${NAME})\\s+in\\b`, "g"))) add(m[1]);
  return names;
}
