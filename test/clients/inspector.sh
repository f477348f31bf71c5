#!/usr/bin/env bash
# Drives the built server with the MCP Inspector CLI, a third-party client,
# over stdio in demo mode, then over streamable HTTP with a bearer token.
# Usage: inspector.sh path/to/incident-mcp
set -euo pipefail
bin=$(realpath "${1:?usage: inspector.sh path/to/incident-mcp}")
cd "$(dirname "$0")"
[ -d node_modules/@modelcontextprotocol/inspector ] || npm ci --no-audit --no-fund --loglevel=error

passed=0 failed=0
check() { # name, command output, expected substring
  if grep -qF -- "$3" <<<"$2"; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1: output lacks $3"; head -c 2000 <<<"$2"; echo
  fi
}
state=$(mktemp -d); trap 'rm -rf "$state"' EXIT
# The Inspector forwards only a few variables of its own environment to the
# server; the rest must be passed with -e.
inspector() { npx --no-install mcp-inspector --cli -e XDG_STATE_HOME="$state" -e INCIDENT_MCP_SECRET=inspector-test-secret-of-32-bytes-or-more "$bin" --demo "$@" 2>/dev/null || true; }

out=$(inspector --method tools/list)
check "tools/list names list_incidents" "$out" '"name": "list_incidents"'
check "tools/list names get_incident" "$out" '"name": "get_incident"'

out=$(inspector --method tools/call --tool-name list_incidents --tool-arg instance=eset --tool-arg min_severity=high --tool-arg page_size=5)
check "list_incidents returns normalized incidents" "$out" '"vendor": "eset"'
check "list_incidents keeps only high severity" "$out" '"severity": "high"'
check "list_incidents echoes the native request" "$out" 'INCIDENT_SEVERITY_LEVEL_HIGH'
if grep -q '"severity": "low"\|"severity": "medium"' <<<"$out"; then
  failed=$((failed + 1)); echo "FAIL list_incidents returned a lower severity"
else
  passed=$((passed + 1)); echo "ok   no lower severity"
fi

id=$(grep -o '"id": "eset:[^"]*"' <<<"$out" | head -n1 | cut -d'"' -f4)
out=$(inspector --method tools/call --tool-name get_incident --tool-arg "id=$id")
check "get_incident reads the listed incident" "$out" "\"id\": \"$id\""

out=$(inspector --method tools/call --tool-name list_incidents --tool-arg instance=kaspersky --tool-arg 'title_contains=a.b*(c)[d]+$')
check "kaspersky: a title with PCRE metacharacters matches literally" "$out" 'a.b*(c)[d]+$'
check "kaspersky: the name parameter is escaped" "$out" '\\.b\\*\\(c\\)'

out=$(inspector --method tools/call --tool-name list_incidents --tool-arg instance=dlp --tool-arg min_severity=critical --tool-arg page_size=3)
check "dlp: normalized incidents" "$out" '"vendor": "dlp"'
check "dlp: the filters object is echoed" "$out" '"critical"'

out=$(inspector --method tools/call --tool-name list_incidents --tool-arg min_severity=high --tool-arg page_size=30)
check "fan-out: one call lists eset" "$out" '"vendor": "eset"'
check "fan-out: one call lists kaspersky" "$out" '"vendor": "kaspersky"'
check "fan-out: one call lists dlp" "$out" '"vendor": "dlp"'
check "fan-out: per-instance status" "$out" '"status": "ok"'

out=$(inspector --method tools/call --tool-name list_incidents --tool-arg 'count_by=["severity","instance"]' --tool-arg 'status=["open"]')
check "counts: exact total" "$out" '"exact": true'
check "counts: by instance" "$out" '"kaspersky":'
check "counts: by severity" "$out" '"critical":'

out=$(inspector --method tools/call --tool-name describe_instances)
check "describe_instances: native filters" "$out" '"native_filters"'

out=$(inspector --method tools/call --tool-name list_incidents --tool-arg instance=eset --tool-arg where=incident.nope)
check "bad where is an isError result" "$out" '"isError": true'

# A client without elicitation (the Inspector CLI) gets the approval page,
# never a token: nothing is written until a person approves there.
out=$(inspector --method tools/call --tool-name update_incident --tool-arg "id=$id" --tool-arg severity=low)
check "update_incident: approval pending with the page URL" "$out" 'approval pending: ask the user to open http://127.0.0.1:'
check "update_incident: the approval id to call back with" "$out" 'plus approval_id:'
if grep -q 'confirmation_token"' <<<"$out"; then
  failed=$((failed + 1)); echo "FAIL the pending result hands out a confirmation token"
else
  passed=$((passed + 1)); echo "ok   no confirmation token without a person"
fi

# Streamable HTTP with a bearer token: the way a team runs it.
printf 'inspector %s\n' "inspector-token-0123456789abcdef" >"$state/tokens"
XDG_STATE_HOME=$state INCIDENT_MCP_SECRET=inspector-test-secret-of-32-bytes-or-more \
  "$bin" --demo --http 127.0.0.1:0 --http-tokens-file "$state/tokens" 2>"$state/http.log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -rf "$state"' EXIT
url=
for _ in $(seq 100); do
  url=$(grep -o 'url=http://[^ ]*/mcp' "$state/http.log" | head -n1 | cut -d= -f2) && [ -n "$url" ] && break
  sleep 0.1
done
http_inspector() { npx --no-install mcp-inspector --cli --transport http --server-url "$url" "$@" 2>&1 || true; }

out=$(http_inspector --header "Authorization: Bearer inspector-token-0123456789abcdef" --method tools/list)
check "http: tools/list with a bearer token" "$out" '"name": "list_incidents"'
out=$(http_inspector --header "Authorization: Bearer inspector-token-0123456789abcdef" --method tools/call --tool-name list_incidents --tool-arg instance=eset --tool-arg page_size=2)
check "http: list_incidents with a bearer token" "$out" '"vendor": "eset"'
out=$(http_inspector --header "Authorization: Bearer not-the-token-0123456789" --method tools/list)
if grep -qF '"name": "list_incidents"' <<<"$out"; then
  failed=$((failed + 1)); echo "FAIL http: a wrong token listed the tools"
else
  passed=$((passed + 1)); echo "ok   http: a wrong token is refused"
fi
check "http: the log names the caller" "$(cat "$state/http.log")" 'caller=inspector'
kill $server_pid

echo "inspector: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
