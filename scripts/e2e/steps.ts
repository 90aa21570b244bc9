/** The e2e's steps: each passes or fails on its own; a failed blocking step fails the later ones as "not run". */
import { say, sleep } from './shell';

const started = performance.now();
const results: { name: string; ok: boolean; seconds: number; detail: string }[] = [];
let blocked: string | null = null;

/** Whether a blocking step failed; `unblock` lets the teardown run whatever happened. */
export const isBlocked = () => blocked !== null;
export function unblock(): void {
  blocked = null;
}

/** Runs one counted step; after a failure that later steps need, they fail as "not run". */
export async function step(name: string, fn: () => Promise<string>, { blocking = false } = {}): Promise<boolean> {
  const t0 = performance.now();
  if (blocked) {
    results.push({ name, ok: false, seconds: 0, detail: `not run: ${blocked}` });
    say(`FAIL ${name}: not run (${blocked})`);
    return false;
  }
  try {
    const detail = await fn();
    const seconds = (performance.now() - t0) / 1000;
    results.push({ name, ok: true, seconds, detail });
    say(`ok   ${name} (${seconds.toFixed(1)} s): ${detail}`);
    return true;
  } catch (error) {
    const seconds = (performance.now() - t0) / 1000;
    const detail = (error as Error)?.message ?? String(error);
    results.push({ name, ok: false, seconds, detail });
    say(`FAIL ${name} (${seconds.toFixed(1)} s): ${detail}`);
    if (blocking) blocked = `${name} failed`;
    return false;
  }
}

export function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (${lastError})` : ''}`);
    await sleep(everyMs);
  }
}

/** Prints the closing line `e2e: N passed, N failed` and exits (1 when a step failed). */
export function finish(code: number): never {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  say(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : code);
}
