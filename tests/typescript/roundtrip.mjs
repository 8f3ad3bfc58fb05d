// Run by tests/typegen/test_typescript.py (bundled with esbuild, then node):
// parses each case's stored JSON text with the generated zod schema of its event.
// argv: cases.json ([{event, json}]); prints [{ok, issues, data}] in the same order
// (data: what zod's parse returns, defaults filled in).
import { readFileSync } from "node:fs";
import { schema } from "./realtime-schema.ts";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const leaf = (event) => event.split(".").reduce((node, part) => node[part], schema);
const results = cases.map(({ event, json }) => {
  const result = leaf(event).safeParse(JSON.parse(json));
  if (result.success) return { ok: true, issues: [], data: result.data };
  return { ok: false, issues: result.error.issues.map((issue) => issue.message), data: null };
});
process.stdout.write(JSON.stringify(results));
