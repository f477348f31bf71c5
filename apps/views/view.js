"use strict";
// MCP Apps view protocol (io.modelcontextprotocol/ui), shared by every view:
// JSON-RPC over postMessage with the host. Every vendor string is set with
// textContent after visible(); nothing is ever parsed as HTML.
const $ = (id) => document.getElementById(id);
let nextId = 1;
const pending = new Map();
function send(msg) { window.parent.postMessage(msg, "*"); }
function request(method, params) {
  const id = nextId++;
  send({ jsonrpc: "2.0", id, method, params });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
function notify(method, params) { send({ jsonrpc: "2.0", method, params: params || {} }); }

// visible shows invisible, bidi and control characters as ⟨U+XXXX⟩ so that
// a title cannot hide or reorder text; an object shows as its JSON.
const HIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]|\uDB40[\uDC00-\uDDEF]/g;
function visible(s) {
  if (s === undefined || s === null) return "";
  if (typeof s === "object") s = JSON.stringify(s);
  return String(s).replace(HIDDEN, (c) => "\u27E8U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0") + "\u27E9");
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = visible(text);
  return e;
}

// serve talks to the host for the view named name: onInput gets the
// arguments of the tool call, onResult the tool result's params. It answers
// pings and unknown requests, reports the view's size and initializes.
function serve(name, onInput, onResult) {
  window.addEventListener("message", (ev) => {
    if (ev.source !== window.parent) return;
    const m = ev.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.id !== undefined && !m.method) {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error.message)); else p.resolve(m.result);
      return;
    }
    switch (m.method) {
      case "ui/notifications/tool-input":
        onInput((m.params && m.params.arguments) || {});
        break;
      case "ui/notifications/tool-result":
        onResult(m.params);
        break;
      case "ui/resource-teardown":
      case "ping":
        send({ jsonrpc: "2.0", id: m.id, result: {} });
        break;
      default:
        if (m.id !== undefined) send({ jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "method not found" } });
    }
  });
  new ResizeObserver(() => notify("ui/notifications/size-changed", {
    width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
  })).observe(document.documentElement);
  request("ui/initialize", {
    appInfo: { name, version: "1" },
    appCapabilities: {},
    protocolVersion: "2026-01-26",
  }).then(() => notify("ui/notifications/initialized"));
}
