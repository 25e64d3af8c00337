/**
 * `WWW-Authenticate` parsing (RFC 7235 §4.1 challenges, as registries send them):
 *
 *   Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"
 *   Basic realm="test-realm"
 *
 * Several challenges may share one header, separated by commas — which also
 * separate parameters, so a new challenge is recognised by a token *not*
 * followed by `=`. Quoted strings may contain commas and `\`-escapes. Scheme and
 * parameter names are case-insensitive (lower-cased here); values are kept.
 * Input is bounded (8 KiB, 16 challenges, 32 parameters each); malformed tails
 * are dropped rather than thrown: a challenge is advice, and a request that
 * cannot use it fails with the server's 401 anyway.
 */

export interface Challenge {
  /** Lower-case scheme: `basic`, `bearer`, … */
  scheme: string;
  /** Lower-case parameter names → unquoted values. */
  params: Record<string, string>;
}

const MAX_HEADER = 8192;
const MAX_CHALLENGES = 16;
const MAX_PARAMS = 32;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** All challenges in one or more `WWW-Authenticate` header values (joined by `, `). */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const s = header.slice(0, MAX_HEADER);
  const out: Challenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TOKEN_CHAR.test(s[i])) i++;
    return s.slice(start, i);
  };
  const readValue = (): string => {
    if (s[i] !== '"') {
      const start = i;
      while (i < s.length && s[i] !== "," && s[i] !== " " && s[i] !== "\t") i++;
      return s.slice(start, i);
    }
    i++;
    let v = "";
    while (i < s.length && s[i] !== '"') {
      if (s[i] === "\\" && i + 1 < s.length) i++;
      v += s[i++];
    }
    i++; // closing quote (or end of input)
    return v;
  };

  while (i < s.length && out.length < MAX_CHALLENGES) {
    skipSpace();
    while (s[i] === ",") {
      i++;
      skipSpace();
    }
    const scheme = readToken();
    if (scheme === "") break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    let count = 0;
    for (;;) {
      skipSpace();
      const save = i;
      const name = readToken();
      skipSpace();
      if (name === "" || s[i] !== "=") {
        i = save; // the next challenge's scheme, or junk
        break;
      }
      i++;
      skipSpace();
      // token68 (e.g. `Negotiate abc==`) ends in `=`; a lone value with no name is ignored.
      const value = readValue();
      if (count++ < MAX_PARAMS) challenge.params[name.toLowerCase()] = value;
      skipSpace();
      if (s[i] !== ",") break;
      i++;
    }
    // Resynchronise after junk so a bad tail cannot loop forever.
    if (i < s.length && !TOKEN_CHAR.test(s[i]) && s[i] !== "," && s[i] !== " ") i++;
  }
  return out;
}

/** The space-separated scopes of a bearer challenge (`scope` may list several). */
export function challengeScopes(challenge: Challenge): string[] {
  return (challenge.params.scope ?? "").split(" ").filter((x) => x !== "");
}

/** `repository:<name>:<actions>`; actions like `pull` or `pull,push`. */
export function repositoryScope(repository: string, actions: "pull" | "push" | "pull,push" | "delete" | string): string {
  return `repository:${repository}:${actions}`;
}

/**
 * Merges scopes: same resource → union of actions (`repository:a:pull` +
 * `repository:a:push` → `repository:a:pull,push`), sorted for a stable cache key.
 */
export function mergeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const at = scope.lastIndexOf(":");
    if (at <= 0) {
      byResource.set(scope, byResource.get(scope) ?? new Set());
      continue;
    }
    const resource = scope.slice(0, at);
    const set = byResource.get(resource) ?? new Set<string>();
    for (const a of scope.slice(at + 1).split(",")) if (a !== "") set.add(a);
    byResource.set(resource, set);
  }
  return [...byResource.entries()]
    .map(([r, a]) => (a.size === 0 ? r : `${r}:${[...a].sort().join(",")}`))
    .sort();
}
