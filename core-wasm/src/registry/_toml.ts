/**
 * A bounded TOML subset, enough for containerd `hosts.toml`:
 * comments, `[a."b.c".d]` tables, `[[a.b]]` arrays of tables (upstream's
 * snapshotter config writes mirrors that way), `key = value` with bare, quoted
 * and dotted keys, basic ("…" with escapes) and literal ('…') strings,
 * integers, floats, booleans, arrays (multi-line, trailing comma) and inline
 * tables.
 *
 * Not supported (FormatError): multi-line strings, dates. Bounds: 64 KiB of text, nesting depth 8, 4096 keys — the input is
 * a config file, but one an unprivileged user may be able to write.
 */
import { FormatError } from "../errors.ts";

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

const MAX_TEXT = 64 * 1024;
const MAX_DEPTH = 8;
const MAX_KEYS = 4096;
const BARE_KEY = /[A-Za-z0-9_-]/;

export function parseToml(text: string, source = "TOML"): TomlTable {
  if (text.length > MAX_TEXT) throw new FormatError(`Cannot parse ${source}: it is larger than ${MAX_TEXT} bytes`, { source });
  const root: TomlTable = Object.create(null);
  const defined = new Set<TomlTable>(); // tables opened by a [header]
  const tableArrays = new Set<TomlValue[]>(); // arrays made by [[headers]]: a path through one means its last table
  let i = 0;
  let keys = 0;
  let current = root;

  const fail = (why: string): never => {
    const line = text.slice(0, i).split("\n").length;
    throw new FormatError(`Cannot parse ${source}: ${why} on line ${line}`, { source });
  };
  const skipWs = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  };
  const skipComment = () => {
    if (text[i] === "#") while (i < text.length && text[i] !== "\n") i++;
  };
  /** Whitespace, newlines and comments (inside arrays). */
  const skipAll = () => {
    for (;;) {
      skipWs();
      skipComment();
      if (text[i] === "\n" || text[i] === "\r") i++;
      else return;
    }
  };
  const endOfLine = () => {
    skipWs();
    skipComment();
    if (text[i] === "\r") i++;
    if (i < text.length && text[i] !== "\n") fail(`unexpected ${JSON.stringify(text[i])}`);
    i++;
  };

  const readString = (): string => {
    const q = text[i];
    if (text.startsWith(q.repeat(3), i)) fail("multi-line strings are not supported");
    i++;
    let out = "";
    while (i < text.length && text[i] !== q) {
      const c = text[i++];
      if (c === "\n") fail("unterminated string");
      if (q === "'" || c !== "\\") {
        out += c;
        continue;
      }
      const e = text[i++];
      const simple: Record<string, string> = { b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", '"': '"', "\\": "\\" };
      if (e in simple) out += simple[e];
      else if (e === "u" || e === "U") {
        const n = e === "u" ? 4 : 8;
        const hex = text.slice(i, i + n);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) fail("bad unicode escape");
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail("bad unicode escape");
        out += String.fromCodePoint(cp);
        i += n;
      } else fail(`bad escape \\${e}`);
    }
    if (text[i] !== q) fail("unterminated string");
    i++;
    return out;
  };

  const readKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipWs();
      if (text[i] === '"' || text[i] === "'") parts.push(readString());
      else {
        const start = i;
        while (i < text.length && BARE_KEY.test(text[i])) i++;
        if (i === start) fail("expected a key");
        parts.push(text.slice(start, i));
      }
      skipWs();
      if (text[i] !== ".") return parts;
      i++;
    }
  };

  const descend = (table: TomlTable, path: string[], create: boolean): TomlTable => {
    if (path.length > MAX_DEPTH) fail(`keys nest deeper than ${MAX_DEPTH}`);
    let t = table;
    for (const k of path) {
      let next = t[k];
      if (next === undefined) {
        if (!create) fail(`unknown table ${k}`);
        if (++keys > MAX_KEYS) fail(`more than ${MAX_KEYS} keys`);
        next = Object.create(null) as TomlTable;
        t[k] = next;
      }
      if (Array.isArray(next) && tableArrays.has(next)) next = next[next.length - 1];
      if (typeof next !== "object" || Array.isArray(next)) fail(`key ${JSON.stringify(k)} is not a table`);
      t = next as TomlTable;
    }
    return t;
  };

  const assign = (table: TomlTable, path: string[], value: TomlValue) => {
    const parent = descend(table, path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (last in parent) fail(`duplicate key ${JSON.stringify(path.join("."))}`);
    if (++keys > MAX_KEYS) fail(`more than ${MAX_KEYS} keys`);
    parent[last] = value;
  };

  const readValue = (depth: number): TomlValue => {
    if (depth > MAX_DEPTH) fail(`values nest deeper than ${MAX_DEPTH}`);
    const c = text[i];
    if (c === '"' || c === "'") return readString();
    if (c === "[") {
      i++;
      const arr: TomlValue[] = [];
      for (;;) {
        skipAll();
        if (text[i] === "]") break;
        arr.push(readValue(depth + 1));
        if (arr.length > MAX_KEYS) fail("array too long");
        skipAll();
        if (text[i] === ",") i++;
        else if (text[i] !== "]") fail("expected , or ] in array");
      }
      i++;
      return arr;
    }
    if (c === "{") {
      i++;
      const t: TomlTable = Object.create(null);
      skipWs();
      if (text[i] === "}") {
        i++;
        return t;
      }
      for (;;) {
        const key = readKey();
        if (text[i] !== "=") fail("expected = in inline table");
        i++;
        skipWs();
        assign(t, key, readValue(depth + 1));
        skipWs();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return t;
        } else fail("expected , or } in inline table");
      }
    }
    const m = /^(true|false|[+-]?(?:0x[0-9a-fA-F_]+|[0-9_]+(?:\.[0-9_]+)?(?:[eE][+-]?[0-9_]+)?|inf|nan))(?=[\s,\]}#]|$)/.exec(text.slice(i, i + 64));
    if (!m) return fail("expected a value (dates and multi-line strings are not supported)");
    i += m[1].length;
    if (m[1] === "true") return true;
    if (m[1] === "false") return false;
    const n = Number(m[1].replace(/_/g, ""));
    if (Number.isNaN(n) && !/nan/.test(m[1])) fail(`bad number ${m[1]}`);
    return n;
  };

  while (i < text.length) {
    skipWs();
    skipComment();
    if (i >= text.length) break;
    if (text[i] === "\n" || text[i] === "\r") {
      i++;
      continue;
    }
    if (text[i] === "[") {
      i++;
      if (text[i] === "[") {
        // [[a.b]]: append a new table to the array a.b (made on first use).
        i++;
        const path = readKey();
        if (text[i] !== "]" || text[i + 1] !== "]") fail("expected ]] after table array name");
        i += 2;
        const parent = descend(root, path.slice(0, -1), true);
        const last = path[path.length - 1];
        let found = parent[last];
        if (found === undefined) {
          if (++keys > MAX_KEYS) fail(`more than ${MAX_KEYS} keys`);
          const made: TomlValue[] = [];
          found = parent[last] = made;
          tableArrays.add(made);
        }
        if (!Array.isArray(found) || !tableArrays.has(found)) return fail(`key ${JSON.stringify(path.join("."))} is not an array of tables`);
        const arr: TomlValue[] = found;
        if (arr.length >= MAX_KEYS || ++keys > MAX_KEYS) fail(`more than ${MAX_KEYS} keys`);
        current = Object.create(null) as TomlTable;
        arr.push(current);
        endOfLine();
        continue;
      }
      const path = readKey();
      if (text[i] !== "]") fail("expected ] after table name");
      i++;
      current = descend(root, path, true);
      if (defined.has(current)) fail(`table ${JSON.stringify(path.join("."))} defined twice`);
      defined.add(current);
      endOfLine();
      continue;
    }
    const key = readKey();
    if (text[i] !== "=") fail("expected =");
    i++;
    skipWs();
    assign(current, key, readValue(0));
    endOfLine();
  }
  return root;
}
