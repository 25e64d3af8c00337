/**
 * containerd's filter language for `List` (snapshotter §2.4, §4; containerd
 * `pkg/filters`): a request carries several filter strings (OR); inside one
 * string, selectors are separated by commas (AND). A selector is a field path
 * (`name`, `parent`, `kind`, `labels.<key>` with the key bare or
 * double-quoted) with an optional operator `==`, `!=` or `~=` (regular
 * expression) and a value (bare, double-quoted with Go escapes, or
 * `/regex/`-quoted). A path without operator tests presence (non-empty).
 *
 * Not here: the snapshot walk (snapshotter.ts).
 */
import { InvalidArgumentError } from "../../core-wasm/src/errors.ts";
import type { Info } from "./types.ts";

type Op = "==" | "!=" | "~=" | "present";
interface Selector {
  path: string[];
  op: Op;
  value: string;
  re?: RegExp;
}
/** OR of ANDs. An empty list matches everything. */
export type Filter = Selector[][];

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}
  peek(): string {
    return this.text[this.pos] ?? "";
  }
  skipSpace(): void {
    while (/\s/.test(this.peek())) this.pos++;
  }
  fail(what: string): never {
    throw new InvalidArgumentError(`Cannot parse filter ${JSON.stringify(this.text)}: ${what} at position ${this.pos}`, {
      hint: 'Use containerd filter syntax, e.g. labels."containerd.io/snapshot.ref"==X,parent==""',
    });
  }
  quoted(): string {
    const q = this.peek();
    this.pos++;
    let out = "";
    while (this.pos < this.text.length) {
      const c = this.text[this.pos++];
      if (c === q) return out;
      if (c === "\\" && q === '"') {
        const e = this.text[this.pos++];
        out += e === "n" ? "\n" : e === "t" ? "\t" : e === "r" ? "\r" : e;
      } else if (c === "\\" && q === "/" && this.peek() === "/") {
        out += "/";
        this.pos++;
      } else out += c;
    }
    return this.fail("unterminated quoted string");
  }
  field(): string {
    if (this.peek() === '"') return this.quoted();
    const m = /^[A-Za-z0-9_\-/]+/.exec(this.text.slice(this.pos));
    if (!m) this.fail("expected a field name");
    this.pos += m[0].length;
    return m[0];
  }
  value(): string {
    const c = this.peek();
    if (c === '"' || c === "/") return this.quoted();
    const m = /^[^,\s]*/.exec(this.text.slice(this.pos))!;
    this.pos += m[0].length;
    return m[0];
  }
}

function parseOne(text: string): Selector[] {
  const s = new Scanner(text);
  const out: Selector[] = [];
  for (;;) {
    s.skipSpace();
    const path = [s.field()];
    while (s.peek() === ".") {
      s.pos++;
      path.push(s.field());
    }
    // Label keys contain dots: everything after "labels." is one key when unquoted.
    if (path[0] === "labels" && path.length > 2) path.splice(1, path.length - 1, path.slice(1).join("."));
    s.skipSpace();
    const two = text.slice(s.pos, s.pos + 2);
    let sel: Selector;
    if (two === "==" || two === "!=" || two === "~=") {
      s.pos += 2;
      s.skipSpace();
      const value = s.value();
      sel = { path, op: two, value };
      if (two === "~=") {
        try {
          sel.re = new RegExp(value);
        } catch (e) {
          s.fail(`bad regular expression ${JSON.stringify(value)} (${(e as Error).message})`);
        }
      }
    } else sel = { path, op: "present", value: "" };
    out.push(sel);
    s.skipSpace();
    if (s.pos >= text.length) return out;
    if (s.peek() !== ",") s.fail("expected ','");
    s.pos++;
  }
}

/** Parses a request's filter strings; throws InvalidArgumentError on bad syntax. Empty strings are ignored. */
export function parseFilters(filters: readonly string[]): Filter {
  return filters.filter((f) => f.trim() !== "").map(parseOne);
}

function fieldOf(info: Info, path: string[]): { value: string; present: boolean } {
  switch (path[0]) {
    case "name":
      return { value: info.name, present: true };
    case "parent":
      return { value: info.parent, present: true };
    case "kind":
      return { value: info.kind, present: true };
    case "labels": {
      if (path.length === 1) return { value: "", present: Object.keys(info.labels).length > 0 };
      const v = info.labels[path[1]];
      return { value: v ?? "", present: v !== undefined };
    }
    default:
      return { value: "", present: false };
  }
}

function matchSelector(info: Info, s: Selector): boolean {
  const f = fieldOf(info, s.path);
  switch (s.op) {
    case "present":
      return f.present;
    case "==":
      return f.present && f.value === s.value;
    case "!=":
      return f.value !== s.value;
    case "~=":
      return s.re!.test(f.value);
  }
}

export function matchFilter(filter: Filter, info: Info): boolean {
  if (filter.length === 0) return true;
  return filter.some((and) => and.every((s) => matchSelector(info, s)));
}
