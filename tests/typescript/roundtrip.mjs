// Run by tests/typegen/test_typescript.py (bundled with esbuild, then node):
// parses each case's stored JSON text with the generated zod schema of its event.
// argv: cases.json ([{event, json}]); prints [{ok, issues}] in the same order.
import { readFileSync } from "node:fs";
import { schema } from "./realtime-schema.ts";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const leaf = (event) => event.split(".").reduce((node, part) => node[part], schema);
const results = cases.map(({ event, json }) => {
  const result = leaf(event).safeParse(JSON.parse(json));
  return { ok: result.success, issues: result.success ? [] : result.error.issues.map((issue) => issue.message) };
});
process.stdout.write(JSON.stringify(results));
