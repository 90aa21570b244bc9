/**
 * Bearer tokens and their scopes, parsed from the configuration (pure; config.ts calls it).
 *
 * Formats, all of which may be combined (every token is accepted; rotation = two at once):
 * - `AUTH_TOKEN=tok1,tok2`: tokens with every scope (the original meaning, kept).
 * - `AUTH_TOKENS=name:scope+scope:token,…`: one entry per token. The name identifies the
 *   token in logs and subscriber caps (the token itself is never logged); the token is the rest
 *   of the entry after the second colon, so it may hold colons.
 * - `AUTH_TOKENS_FILE=/path`: the same entries one per line (commas work too), `#` comments and
 *   blank lines ignored: a mounted Kubernetes Secret or a Docker secret. Read once at start.
 * Tokens are at least 16 characters without whitespace or commas.
 *
 * Scopes: `publish`, `read`, `admin`, `metrics` (GET /metrics only, when METRICS_AUTH=true),
 * and `all` for every one of them. Scopes do not imply each other: an `admin` token cannot read
 * events unless it also has `read`.
 */

export const SCOPES = ['publish', 'read', 'admin', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenGrant {
  /** Shown in logs and used to count a token's subscriptions; never the secret. */
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly token: string;
}

/** Shorter tokens are refused: a bearer token is the only thing between the network and the logs. */
export const MIN_TOKEN_LENGTH = 16;

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
// What an Authorization header can carry as one token (see auth/guard.ts BEARER).
const TOKEN_CHARS = /^[^\s,]+$/;

/** Tokens of AUTH_TOKEN (comma-separated), each with every scope, named `auth-token-<n>`. */
export function parsePlainTokens(text: string, problems: string[]): TokenGrant[] {
  const tokens = text
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token.length > 0);
  if (tokens.some((token) => token.length < MIN_TOKEN_LENGTH)) {
    problems.push(`AUTH_TOKEN: every token must be at least ${MIN_TOKEN_LENGTH} characters`);
    return [];
  }
  if (tokens.some((token) => !TOKEN_CHARS.test(token))) {
    problems.push('AUTH_TOKEN: a token may not contain whitespace');
    return [];
  }
  return tokens.map((token, i) => ({ name: `auth-token-${i + 1}`, scopes: [...SCOPES], token }));
}

/**
 * Entries `name:scope+scope:token` separated by commas or new lines. `source` names the variable
 * in problems; a problem never quotes a token.
 */
export function parseScopedTokens(text: string, source: string, problems: string[]): TokenGrant[] {
  const grants: TokenGrant[] = [];
  const entries = text
    .split(/[,\n]/)
    // A comment starts a line or follows whitespace, so a token may contain `#`.
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line.length > 0);
  entries.forEach((entry, i) => {
    const where = `${source} entry ${i + 1}`;
    const first = entry.indexOf(':');
    const second = first === -1 ? -1 : entry.indexOf(':', first + 1);
    if (second === -1) {
      problems.push(`${where}: expected name:scope+scope:token`);
      return;
    }
    const name = entry.slice(0, first).trim();
    const scopeText = entry.slice(first + 1, second).trim();
    const token = entry.slice(second + 1).trim();
    if (!NAME.test(name)) problems.push(`${where}: name ${JSON.stringify(name)} must be 1-64 of A-Z a-z 0-9 . _ -`);
    const scopes = new Set<Scope>();
    for (const scope of scopeText.split('+').map((s) => s.trim().toLowerCase())) {
      if (scope === 'all') for (const s of SCOPES) scopes.add(s);
      else if ((SCOPES as readonly string[]).includes(scope)) scopes.add(scope as Scope);
      else problems.push(`${where} (${name}): unknown scope ${JSON.stringify(scope)}; expected ${[...SCOPES, 'all'].join(', ')}`);
    }
    if (token.length < MIN_TOKEN_LENGTH) problems.push(`${where} (${name}): the token must be at least ${MIN_TOKEN_LENGTH} characters`);
    else if (!TOKEN_CHARS.test(token)) problems.push(`${where} (${name}): the token may not contain whitespace`);
    grants.push({ name, scopes: [...scopes], token });
  });
  return grants;
}

/** Problems with the whole set: a name or a token given twice. */
export function checkGrants(grants: readonly TokenGrant[], problems: string[]): void {
  const names = new Set<string>();
  const tokens = new Set<string>();
  for (const grant of grants) {
    if (names.has(grant.name)) problems.push(`auth tokens: the name ${JSON.stringify(grant.name)} is used twice`);
    if (tokens.has(grant.token)) problems.push(`auth tokens: the token named ${JSON.stringify(grant.name)} is configured twice`);
    names.add(grant.name);
    tokens.add(grant.token);
  }
}
