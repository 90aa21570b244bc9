/**
 * `npm test`: one PostgreSQL for the whole run (DATABASE_URL, else testcontainers when Docker
 * answers and can start it, else embedded PostgreSQL from npm; TEST_POSTGRES forces one: see
 * aggregator/local/postgres.ts), then each workspace's `test` script in turn with
 * TEST_DATABASE_URL set. Prints one closing line: "tests: N passed, N failed".
 */
import { readFileSync } from 'node:fs';
import { TestPostgresError, startPostgresServer } from '../aggregator/local/postgres';

const WORKSPACES = ['aggregator', 'publisher', 'ops'];

/** Static checks run before the suites; each counts as one test. */
const STATIC_CHECKS: [string, string[]][] = [
  ['typecheck (tsc: aggregator, ops, bench, scripts)', ['npx', 'tsc', '-p', '.']],
  ['typecheck (deno check: publisher)', ['npm', 'run', 'check', '--silent', '-w', 'publisher']],
  ['format and lint (biome check: everything outside publisher/)', ['npx', 'biome', 'check', '--error-on-warnings', '.']],
];

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Reads bun's "N pass / N fail / N skip" and deno's "ok | N passed | N failed | N ignored". */
export function countResults(output: string): Counts {
  const last = (re: RegExp) => {
    const all = [...output.matchAll(re)];
    return all.length ? Number(all[all.length - 1]![1]) : 0;
  };
  const deno = [
    ...output.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?(?: \| (\d+) ignored)?/g),
  ].at(-1);
  if (deno) return { passed: Number(deno[1]), failed: Number(deno[3]), skipped: Number(deno[5] ?? 0) };
  return { passed: last(/^\s*(\d+) pass$/gm), failed: last(/^\s*(\d+) fail$/gm), skipped: last(/^\s*(\d+) skip$/gm) };
}

/**
 * The failed tests of a suite's output, each with what bun printed between it and the test before
 * (its error, at most `context` lines), so the closing summary, the part of a CI log people read,
 * names what failed and why.
 */
export function failedTests(output: string, context = 30): string[] {
  const lines = output.split('\n');
  const failures: string[] = [];
  const named = new Set<string>();
  lines.forEach((line, index) => {
    // bun repeats each failed test's line in its closing recap: the first one has the error.
    if (!line.startsWith('(fail) ') || named.has(line)) return;
    named.add(line);
    let start = index;
    while (start > 0 && !/^\((pass|fail|skip|todo)\) /.test(lines[start - 1]!)) start--;
    const error = lines.slice(Math.max(start, index - context), index).filter((l) => l.trim() !== '');
    failures.push([line, ...error.map((l) => `    ${l}`)].join('\n'));
  });
  return failures;
}

async function runSuite(workspace: string, env: Record<string, string>): Promise<Counts & { code: number; seconds: number; failures: string[] }> {
  const started = performance.now();
  const proc = Bun.spawn(['npm', 'run', 'test', '--silent', '-w', workspace], {
    env: { ...process.env, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  // Stream the suite's output while keeping a copy to count results from.
  let output = '';
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      output += text;
      sink.write(text);
    }
  };
  await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
  const code = await proc.exited;
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  return { ...countResults(plain), code, seconds: (performance.now() - started) / 1000, failures: failedTests(plain) };
}

async function main(): Promise<number> {
  let server: Awaited<ReturnType<typeof startPostgresServer>>;
  try {
    server = await startPostgresServer();
  } catch (error) {
    if (!(error instanceof TestPostgresError)) throw error;
    console.error(`[test] ${error.message}`);
    return 1;
  }
  console.log(`[test] PostgreSQL from ${server.kind}`);
  const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
  const rows: string[] = [];
  const failures: string[] = [];
  let exitCode = 0;
  try {
    for (const [name, command] of STATIC_CHECKS) {
      const check = Bun.spawnSync(command, { stdout: 'pipe', stderr: 'pipe' });
      const ok = check.exitCode === 0;
      console.log(`[test] ${ok ? 'ok  ' : 'FAIL'} ${name}`);
      if (!ok) {
        process.stdout.write(check.stdout);
        process.stderr.write(check.stderr);
        exitCode = 1;
      }
      totals.passed += ok ? 1 : 0;
      totals.failed += ok ? 0 : 1;
      rows.push(`  ${name}: ${ok ? 'passed' : 'failed'}`);
    }
    for (const workspace of WORKSPACES) {
      const manifest = JSON.parse(readFileSync(`${workspace}/package.json`, 'utf8'));
      if (!manifest.scripts?.test) {
        rows.push(`  ${workspace}: no test script`);
        continue;
      }
      console.log(`\n[test] ── ${workspace} ──`);
      // Every suite uses this one server, whatever TEST_POSTGRES chose for it.
      const result = await runSuite(workspace, { TEST_DATABASE_URL: server.adminUrl, TEST_POSTGRES: 'url' });
      // A suite that exits non-zero without a failed test (crash, compile error) still fails.
      const failed = result.failed || (result.code !== 0 ? 1 : 0);
      totals.passed += result.passed;
      totals.failed += failed;
      totals.skipped += result.skipped;
      if (result.code !== 0) exitCode = 1;
      failures.push(...result.failures.map((failure) => `[${workspace}] ${failure}`));
      rows.push(
        `  ${workspace}: ${result.passed} passed, ${failed} failed, ${result.skipped} skipped, exit ${result.code}, ${result.seconds.toFixed(1)} s`,
      );
    }
  } finally {
    await server.stop();
  }
  if (failures.length) console.log(`\n[test] failed tests, each after the lines before it\n${failures.join('\n\n')}`);
  console.log(`\n[test] summary\n${rows.join('\n')}`);
  console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  return exitCode;
}

if (import.meta.main) process.exit(await main());
