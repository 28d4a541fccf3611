#!/usr/bin/env bash
# Cross-check `tenantd validate` against the JSON Schemas in schemas/.
#
# Setup (once; the Makefile's deps target runs it):
#     (cd tests/schema && npm ci)
# Usage:
#     tests/schema/check.sh TENANTD_BINARY FIXTURES_DIR
# e.g.
#     tests/schema/check.sh ./tenantd tests/fixtures
#
# FIXTURES_DIR/base/ is a valid manifest repository. FIXTURES_DIR/valid/<case>/
# and FIXTURES_DIR/invalid/<case>/ are overlays copied over a copy of base,
# after deleting the repository paths listed in the case's `remove` file. The
# control files `expect`, `why`, `remove` and `schema-blind` are not part of
# the repository. Cases holding `schema-blind` (rules a schema cannot express)
# are skipped; base itself is checked as a case.
#
# For every checked case, `TENANTD_BINARY validate --format json REPO` gives
# tenantd's verdict per file (a file is invalid when some error names it), and
# ajv-cli gives the schema's verdict for platform.yaml
# (platform.schema.json), tiers.yaml (tiercatalog.schema.json) and
# tenants/*.yaml, tenants/*.yml (tenant.schema.json). Any disagreement fails.
#
# YAML is read with js-yaml 4, typing plain scalars by the YAML 1.2 core
# schema exactly as schemas/REFERENCE.md states it (js-yaml's own CORE_SCHEMA
# also reads 0b101 and -0x2a as integers) and resolving `<<` merge keys as
# tenantd does, in one node run for all files, and handed to ajv-cli as JSON.
# (ajv-cli 5 itself reads .yaml with js-yaml 3: YAML 1.1-ish typing, `0o52` a
# string, `052` octal, dates Date objects; and on a YAML error it require()s
# the file as JavaScript, so a duplicate key passes, or aborts the whole run.)
# A file js-yaml cannot parse (syntax error, duplicate key, more than one
# document, unknown tag, invalid UTF-8) counts as invalid for ajv. ajv-cli then
# runs once per schema over all files.
#
# Prints one block per disagreement and ends with `schema: N passed, M failed`
# (N + M = files compared). Exits 0 only when M is 0 and N > 0.
# Reads nothing outside the repository but the two arguments; works in a
# temporary directory that it removes.

set -euo pipefail

usage() {
    echo "usage: $0 TENANTD_BINARY FIXTURES_DIR" >&2
    exit 2
}
[ "$#" -eq 2 ] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
schemas="$root/schemas"

bin=$1
case "$bin" in
    */*) bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" ;;
    *) bin=$(command -v "$bin" || true) ;;
esac
if [ -z "$bin" ] || [ ! -x "$bin" ] || [ -d "$bin" ]; then
    echo "check.sh: tenantd binary '$1' is not an executable file" >&2
    exit 2
fi
[ -d "$2" ] || { echo "check.sh: fixtures directory '$2' not found" >&2; exit 2; }
fixtures=$(cd "$2" && pwd)
[ -d "$fixtures/base" ] || { echo "check.sh: $fixtures/base not found" >&2; exit 2; }

if [ ! -x "$here/node_modules/.bin/ajv" ] || [ ! -f "$here/node_modules/js-yaml/package.json" ]; then
    echo "check.sh: ajv-cli/js-yaml not installed; run: (cd tests/schema && npm ci)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tenantd-schema.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
mkdir -p "$tmp/repo" "$tmp/tenantd" "$tmp/ajv"

# Per-case tenantd time limit, so that a hang shows up as a failure.
run_limited() {
    if command -v timeout >/dev/null 2>&1; then
        timeout 120 "$@"
    else
        "$@"
    fi
}

# --- 1. materialise every checked case and run tenantd on it ---------------

shopt -s nullglob
case_dirs=("$fixtures/base")
case_names=(base)
for kind in valid invalid; do
    for d in "$fixtures/$kind"/*/; do
        d=${d%/}
        [ -e "$d/schema-blind" ] && continue
        case_dirs+=("$d")
        case_names+=("$kind/$(basename "$d")")
    done
done
shopt -u nullglob

: >"$tmp/cases.tsv"
for i in "${!case_dirs[@]}"; do
    src=${case_dirs[$i]}
    name=${case_names[$i]}
    repo="$tmp/repo/$i"
    mkdir -p "$repo"
    cp -R "$fixtures/base/." "$repo/"
    setup_error=""
    if [ "$name" != base ]; then
        if [ -f "$src/remove" ]; then
            while IFS= read -r p || [ -n "$p" ]; do
                p=${p%$'\r'}
                p=$(printf '%s' "$p" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
                [ -z "$p" ] && continue
                case "/$p/" in
                    *"/../"* | //*) setup_error="bad path in remove: '$p'"; break ;;
                esac
                rm -rf -- "${repo:?}/$p"
            done <"$src/remove"
        fi
        while IFS= read -r -d '' entry; do
            case "$(basename "$entry")" in
                expect | why | remove | schema-blind) continue ;;
            esac
            cp -R -- "$entry" "$repo/"
        done < <(find "$src" -mindepth 1 -maxdepth 1 -print0)
    fi
    rc=0
    if [ -z "$setup_error" ]; then
        run_limited "$bin" validate --format json "$repo" \
            >"$tmp/tenantd/$i.out" 2>"$tmp/tenantd/$i.err" </dev/null || rc=$?
    else
        rc=255
        printf '%s\n' "$setup_error" >"$tmp/tenantd/$i.err"
        : >"$tmp/tenantd/$i.out"
    fi
    printf '%s\t%s\t%s\n' "$i" "$name" "$rc" >>"$tmp/cases.tsv"
done

# --- 2. parse YAML, compare (node) -----------------------------------------

cat >"$tmp/check.js" <<'EOF'
"use strict";
const fs = require("fs");
const path = require("path");
const [mode, tmp, here] = process.argv.slice(2);
const yaml = require(path.join(here, "node_modules", "js-yaml"));
if (!/^4\./.test(require(path.join(here, "node_modules", "js-yaml", "package.json")).version)) {
  console.error("check.sh: expected js-yaml 4 in tests/schema/node_modules");
  process.exit(2);
}
const SCHEMAS = ["platform", "tiercatalog", "tenant"];

// The YAML 1.2 core schema exactly as schemas/REFERENCE.md states it:
// js-yaml's CORE_SCHEMA also takes 0b101, +0x2a, 0x_2a and the like as
// integers; here those are strings, as they are for tenantd. Merge keys
// (`<<`) are resolved, as tenantd does.
const INT_RE = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const FLOAT_RE = /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const coreInt = new yaml.Type("tag:yaml.org,2002:int", {
  kind: "scalar",
  resolve: (s) => s !== null && INT_RE.test(s),
  construct: (s) => (s.startsWith("0o") ? parseInt(s.slice(2), 8)
    : s.startsWith("0x") ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
  predicate: (o) => Number.isInteger(o),
});
const coreFloat = new yaml.Type("tag:yaml.org,2002:float", {
  kind: "scalar",
  resolve: (s) => s !== null && FLOAT_RE.test(s),
  construct: (s) => (/nan/i.test(s) ? NaN : /inf/i.test(s) ? (s[0] === "-" ? -Infinity : Infinity) : parseFloat(s)),
  predicate: (o) => typeof o === "number",
});
const CORE = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [yaml.types.null, yaml.types.bool, coreInt, coreFloat, yaml.types.merge],
});
const MAX_NODES = 1000000;

function readCases() {
  return fs.readFileSync(path.join(tmp, "cases.tsv"), "utf8").split("\n").filter(Boolean)
    .map((l) => { const [id, name, rc] = l.split("\t"); return { id, name, rc: Number(rc) }; });
}

// Repository files the schemas apply to, relative to the repository root.
function manifestFiles(repo) {
  const out = [];
  const isFile = (p) => { try { return fs.statSync(p).isFile(); } catch { return false; } };
  if (isFile(path.join(repo, "platform.yaml"))) out.push(["platform.yaml", "platform"]);
  if (isFile(path.join(repo, "tiers.yaml"))) out.push(["tiers.yaml", "tiercatalog"]);
  let names = [];
  try { names = fs.readdirSync(path.join(repo, "tenants")); } catch { /* no tenants/ */ }
  for (const n of names.sort()) {
    if ((n.endsWith(".yaml") || n.endsWith(".yml")) && isFile(path.join(repo, "tenants", n)))
      out.push(["tenants/" + n, "tenant"]);
  }
  return out;
}

function countNodes(v) {
  let n = 0;
  const stack = [v];
  while (stack.length) {
    const x = stack.pop();
    if (++n > MAX_NODES) return n;
    if (x && typeof x === "object") for (const k in x) stack.push(x[k]);
  }
  return n;
}

function parseYaml(file, repo) {
  // Never read outside the materialised repository (a symlinked fixture).
  let real;
  try { real = fs.realpathSync(file); } catch (e) { return { error: "cannot resolve: " + e.code }; }
  if (!real.startsWith(fs.realpathSync(repo) + path.sep)) return { error: "symlink leaves the repository (not read)" };
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(file));
  } catch (e) {
    return { error: "not valid UTF-8" };
  }
  let doc;
  try {
    doc = yaml.load(text, { schema: CORE });
  } catch (e) {
    return { error: "YAML: " + String(e.message).split("\n")[0] };
  }
  if (countNodes(doc) > MAX_NODES) return { error: `more than ${MAX_NODES} nodes after alias expansion` };
  return { json: JSON.stringify(doc === undefined ? null : doc) };
}

function prepare() {
  const entries = [];
  const lists = Object.fromEntries(SCHEMAS.map((s) => [s, []]));
  let k = 0;
  for (const c of readCases()) {
    const repo = path.join(tmp, "repo", c.id);
    for (const [file, schema] of manifestFiles(repo)) {
      const e = { case: c.id, file, schema };
      const r = parseYaml(path.join(repo, file), repo);
      if (r.error) {
        e.parseError = r.error;
      } else {
        fs.mkdirSync(path.join(tmp, "ajv", schema), { recursive: true });
        e.data = path.join(tmp, "ajv", schema, `${k++}.json`);
        fs.writeFileSync(e.data, r.json);
        lists[schema].push(e.data);
      }
      entries.push(e);
    }
  }
  fs.writeFileSync(path.join(tmp, "entries.json"), JSON.stringify(entries));
  for (const s of SCHEMAS) fs.writeFileSync(path.join(tmp, "ajv", s + ".list"), lists[s].map((p) => p + "\n").join(""));
}

function readAjv(schema, known) {
  // ajv-cli validate prints "<file> valid" on stdout, and "<file> invalid"
  // followed by the errors (one JSON line with --errors=line) on stderr.
  const verdicts = new Map();
  const noise = [];
  const read = (ext) => { try { return fs.readFileSync(path.join(tmp, "ajv", `${schema}.${ext}`), "utf8"); } catch { return ""; } };
  for (const line of read("out").split("\n")) {
    if (line.endsWith(" valid") && known.has(line.slice(0, -" valid".length)))
      verdicts.set(line.slice(0, -" valid".length), { valid: true, messages: [] });
    else if (line.trim()) noise.push(line);
  }
  const lines = read("err").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.endsWith(" invalid") && known.has(line.slice(0, -" invalid".length))) {
      const v = { valid: false, messages: [] };
      verdicts.set(line.slice(0, -" invalid".length), v);
      const next = lines[i + 1] || "";
      if (next.startsWith("[")) {
        i++;
        try {
          for (const err of JSON.parse(next)) {
            let m = `${err.instancePath || "/"}: ${err.message}`;
            if (err.params && err.params.additionalProperty) m += ` '${err.params.additionalProperty}'`;
            if (err.params && err.params.allowedValues) m += ` ${JSON.stringify(err.params.allowedValues)}`;
            v.messages.push(m);
          }
        } catch { v.messages.push(next); }
      }
    } else if (line.trim() && !/^npm (warn|WARN|notice)/.test(line)) noise.push(line);
  }
  let rc = "";
  try { rc = fs.readFileSync(path.join(tmp, "ajv", `${schema}.rc`), "utf8").trim(); } catch { /* not run */ }
  return { verdicts, noise, rc };
}

function readTenantd(c) {
  const out = fs.readFileSync(path.join(tmp, "tenantd", `${c.id}.out`), "utf8");
  const err = fs.readFileSync(path.join(tmp, "tenantd", `${c.id}.err`), "utf8");
  const repo = path.join(tmp, "repo", c.id);
  const r = { byFile: new Map(), problem: null };
  const tail = (s) => s.trim().split("\n").slice(-5).join(" | ");
  if (c.rc !== 0 && c.rc !== 1) {
    r.problem = `tenantd exited ${c.rc}${err.trim() ? ": " + tail(err) : ""}`;
    return r;
  }
  let j;
  try { j = JSON.parse(out); } catch (e) {
    r.problem = `tenantd printed no JSON on stdout (${e.message})${err.trim() ? "; stderr: " + tail(err) : ""}`;
    return r;
  }
  if (!j || typeof j.valid !== "boolean" || !Array.isArray(j.errors)) {
    r.problem = "tenantd JSON lacks a boolean 'valid' and an 'errors' array";
    return r;
  }
  if (j.valid !== (c.rc === 0) || j.valid !== (j.errors.length === 0)) {
    r.problem = `tenantd is inconsistent: exit ${c.rc}, valid ${j.valid}, ${j.errors.length} error(s)`;
    return r;
  }
  for (const e of j.errors) {
    let f = String(e.file || "");
    if (f.startsWith(repo + "/")) f = f.slice(repo.length + 1);
    f = f.replace(/^(\.\/)+/, "");
    if (!r.byFile.has(f)) r.byFile.set(f, []);
    r.byFile.get(f).push(`${f}:${e.line}:${e.column}: ${e.message}`);
  }
  return r;
}

function compare() {
  const cases = new Map(readCases().map((c) => [c.id, c]));
  const tenantd = new Map();
  for (const c of cases.values()) tenantd.set(c.id, readTenantd(c));
  const entries = JSON.parse(fs.readFileSync(path.join(tmp, "entries.json"), "utf8"));
  const known = new Set(entries.map((e) => e.data).filter(Boolean));
  const ajv = Object.fromEntries(SCHEMAS.map((s) => [s, readAjv(s, known)]));
  let passed = 0, failed = 0;
  const reported = new Set();
  for (const e of entries) {
    const c = cases.get(e.case);
    const t = tenantd.get(e.case);
    const fail = (lines) => {
      failed++;
      console.log(`FAIL ${c.name}: ${e.file}`);
      for (const l of lines) console.log("    " + l);
    };
    if (t.problem) {
      fail([t.problem]);
      continue;
    }
    let av;
    if (e.parseError) av = { valid: false, messages: [e.parseError] };
    else av = ajv[e.schema].verdicts.get(e.data);
    if (!av) {
      const a = ajv[e.schema];
      const why = [`ajv-cli gave no verdict (exit ${a.rc || "?"})`];
      if (!reported.has(e.schema)) { reported.add(e.schema); why.push(...a.noise.slice(0, 20)); }
      fail(why);
      continue;
    }
    const tmsgs = t.byFile.get(e.file) || [];
    const tv = tmsgs.length === 0;
    if (tv === av.valid) { passed++; continue; }
    fail([
      `tenantd: ${tv ? "valid" : "invalid"}   schema (${e.schema}.schema.json): ${av.valid ? "valid" : "invalid"}`,
      ...(tv ? ["tenantd: no error for this file"] : tmsgs.map((m) => "tenantd: " + m)),
      ...(av.valid ? ["ajv: valid"] : av.messages.map((m) => "ajv: " + m)),
    ]);
  }
  for (const s of SCHEMAS) {
    const a = ajv[s];
    if (a.noise.length && !reported.has(s)) {
      console.log(`note: unexpected ajv-cli output for ${s}.schema.json:`);
      for (const l of a.noise.slice(0, 20)) console.log("    " + l);
    }
  }
  console.log(`schema: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

if (mode === "prepare") prepare();
else if (mode === "compare") compare();
else { console.error("check.js: unknown mode " + mode); process.exit(2); }
EOF

node "$tmp/check.js" prepare "$tmp" "$here"

# --- 3. one ajv-cli run per schema over all files of all cases --------------

for schema in platform tiercatalog tenant; do
    mapfile -t data <"$tmp/ajv/$schema.list"
    [ "${#data[@]}" -eq 0 ] && continue
    args=()
    for f in "${data[@]}"; do args+=(-d "$f"); done
    rc=0
    (cd "$here" && npx --no-install ajv validate --spec=draft2020 --strict=true \
        --strict-required=false --all-errors --errors=line \
        -s "$schemas/$schema.schema.json" "${args[@]}") \
        >"$tmp/ajv/$schema.out" 2>"$tmp/ajv/$schema.err" </dev/null || rc=$?
    echo "$rc" >"$tmp/ajv/$schema.rc"
done

node "$tmp/check.js" compare "$tmp" "$here"
