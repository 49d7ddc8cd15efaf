// Runs one check of test/support/docs.ts and prints its result as JSON, for test/docs.test.ts, which
// runs it in a child process (`node --import tsx test/support/docsCheck.ts <check>`).
import { callSiteDocs, snippetErrors } from "./docs.js"

const [check, input] = process.argv.slice(2)

const result = check === "snippets"
  ? snippetErrors()
  : check === "call-sites"
  ? callSiteDocs(...(JSON.parse(input ?? "null") as Parameters<typeof callSiteDocs>))
  : undefined
if (result === undefined) throw new Error(`Unknown check ${String(check)}: "snippets" or "call-sites".`)
process.stdout.write(JSON.stringify(result))
