// A minimal MCP Apps host for the browser tests of the incident-mcp views:
// an MCP client over streamable HTTP (same origin, /mcp) that declares the
// io.modelcontextprotocol/ui extension, and @modelcontextprotocol/ext-apps'
// AppBridge between it and the view in a sandboxed iframe. The Go test
// bundles this file with esbuild and drives it through window.host.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const EXTENSION = "io.modelcontextprotocol/ui";
const MIME = "text/html;profile=mcp-app";

let nextId = 1;
let session = "";
let bearer = ""; // the principal's token, when the server authenticates

// rpc posts one JSON-RPC request and returns its result; the server may
// answer with JSON or with a one-event SSE stream.
async function rpc(method, params) {
  const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
  if (bearer) headers.Authorization = "Bearer " + bearer;
  if (session) {
    headers["Mcp-Session-Id"] = session;
    headers["MCP-Protocol-Version"] = "2025-06-18";
  }
  const id = method.startsWith("notifications/") ? undefined : nextId++;
  const res = await fetch("/mcp", { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id, method, params }) });
  session = res.headers.get("Mcp-Session-Id") || session;
  if (id === undefined) return null;
  const body = await res.text();
  let msg;
  if ((res.headers.get("Content-Type") || "").includes("text/event-stream")) {
    for (const line of body.split("\n")) {
      if (!line.startsWith("data:")) continue;
      const m = JSON.parse(line.slice(5));
      if (m.id === id) msg = m;
    }
  } else {
    msg = JSON.parse(body);
  }
  if (!msg) throw new Error(method + ": no answer (HTTP " + res.status + ")");
  if (msg.error) throw new Error(method + ": " + msg.error.message);
  return msg.result;
}

const host = {
  log: [],
  calls: [], // tools/call requests the view made through the bridge
  tools: [],
  result: null,
  // connect opens a session, as the principal of token when given.
  async connect(token) {
    bearer = token || "";
    session = "";
    await rpc("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: { extensions: { [EXTENSION]: { mimeTypes: [MIME] } } },
      clientInfo: { name: "ext-apps-test-host", version: "1" },
    });
    await rpc("notifications/initialized", {});
    this.tools = (await rpc("tools/list", {})).tools;
    return this.tools.map((t) => t.name);
  },
  // run calls a tool as the model would and shows its view.
  async run(name, args) {
    const tool = this.tools.find((t) => t.name === name);
    const uri = tool && tool._meta && tool._meta.ui && tool._meta.ui.resourceUri;
    if (!uri) throw new Error(name + " has no view");
    return this.show(uri, args, await rpc("tools/call", { name, arguments: args }));
  },
  // show renders the view at uri for a tool call's arguments and result,
  // as a host does when it replays a conversation.
  async show(uri, args, result) {
    document.getElementById("views").replaceChildren();
    this.result = result;
    const read = await rpc("resources/read", { uri });
    const content = read.contents[0];
    if (content.mimeType !== MIME) throw new Error("view type " + content.mimeType);
    this.csp = content._meta && content._meta.ui && content._meta.ui.csp;

    const frame = document.createElement("iframe");
    frame.sandbox = "allow-scripts";
    frame.title = uri;
    frame.style.cssText = "width:100%;border:1px solid #d1d9e0;border-radius:8px;height:200px";
    document.getElementById("views").append(frame);

    const bridge = new AppBridge(null, { name: "ext-apps-test-host", version: "1" }, { serverTools: {}, serverResources: {} });
    bridge.oncalltool = async (params) => {
      const t = this.tools.find((x) => x.name === params.name);
      const vis = (t && t._meta && t._meta.ui && t._meta.ui.visibility) || ["model", "app"];
      if (!vis.includes("app")) throw new Error(params.name + " is not callable by views");
      this.calls.push(params);
      return rpc("tools/call", params);
    };
    bridge.onsizechange = ({ height }) => { if (height) frame.style.height = height + 4 + "px"; };
    const ready = new Promise((resolve) => {
      bridge.oninitialized = async () => {
        await bridge.sendToolInput({ arguments: args });
        await bridge.sendToolResult(this.result);
        resolve();
      };
    });
    frame.srcdoc = content.text;
    await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
    await ready;
    this.frame = frame;
    return this.result;
  },
};
window.host = host;
