// A real third-party client (the TypeScript MCP SDK) confirms one update
// through elicitation and declines another, over stdio, against --demo.
// Usage: node elicitation.mjs path/to/incident-mcp
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const bin = process.argv[2];
const auditPath = join(mkdtempSync(join(tmpdir(), "incident-mcp-")), "audit.jsonl");
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => {
  if (ok) { passed++; console.log(`ok   ${name}`); } else { failed++; console.log(`FAIL ${name} ${detail}`); }
};

let answer = "accept";
const prompts = [];
const client = new Client({ name: "ts-sdk-elicitation", version: "1.0.0" }, { capabilities: { elicitation: {} } });
client.setRequestHandler(ElicitRequestSchema, async (req) => {
  prompts.push(req.params.message);
  return answer === "accept" ? { action: "accept", content: { confirm: true } } : { action: answer };
});
await client.connect(new StdioClientTransport({
  command: bin,
  args: ["--demo", "--audit-log", auditPath, "--log-level", "warn"],
  env: { ...process.env, INCIDENT_MCP_SECRET: "ts-sdk-test-secret-at-least-32-bytes-long" },
  stderr: "ignore",
}));

const list = await client.callTool({ name: "list_incidents", arguments: { instance: "eset", status: ["open"], page_size: 2 } });
const [a, b] = list.structuredContent.incidents;
check("two open incidents listed", a && b);

const wanted = a.severity === "high" ? "medium" : "high";
let r = await client.callTool({ name: "update_incident", arguments: { id: a.id, severity: wanted, comment: "confirmed by the TypeScript SDK client" } });
check("accept applies", r.structuredContent?.applied === true, JSON.stringify(r.content));
check("the prompt shows the change", prompts.length === 1 && prompts[0].includes("severity") && prompts[0].includes(wanted), prompts[0]);
let got = await client.callTool({ name: "get_incident", arguments: { id: a.id } });
check("read back shows the change", got.structuredContent.severity === wanted);

answer = "decline";
r = await client.callTool({ name: "update_incident", arguments: { id: b.id, title: "must not be written" } });
check("decline writes nothing", r.structuredContent?.applied === false && !r.isError, JSON.stringify(r.content));
got = await client.callTool({ name: "get_incident", arguments: { id: b.id } });
check("title unchanged after decline", got.structuredContent.title === b.title);

const lines = existsSync(auditPath) ? readFileSync(auditPath, "utf8").trim().split("\n").filter(Boolean).map(JSON.parse) : [];
check("audit log holds exactly the accepted write: its intent, then its outcome",
  lines.length === 2 && lines[0].outcome === "intent" && lines[1].write === lines[0].write &&
  lines[1].id === a.id && lines[1].outcome === "applied" && lines[1].confirmed_by === "elicitation", JSON.stringify(lines));

await client.close();
console.log(`elicitation: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
