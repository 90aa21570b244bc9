/**
 * Which methods a path has: a request for a registered path with another method is a 405 with
 * `Allow`, not a 404 (`GET /publish` says to POST).
 */

export interface RegisteredRoute {
  method: string;
  path: string;
}

/** True when `path` (already URL-decoded by the router) fits the route `pattern` (`:param`, `*`). */
function fits(pattern: string, path: string): boolean {
  const want = pattern.split('/');
  const have = path.split('/');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '*') return true;
    if (i >= have.length) return false;
    if (want[i]!.startsWith(':') ? have[i] === '' : want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}

/** The methods registered for `path`, HEAD beside GET; empty when no route has this path. */
export function allowedMethods(routes: readonly RegisteredRoute[], path: string): string[] {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const methods = new Set(routes.filter((route) => route.method !== 'ALL' && fits(route.path, trimmed)).map((route) => route.method));
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}
