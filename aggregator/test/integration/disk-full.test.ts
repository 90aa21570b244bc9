/**
 * A full disk, for real: a PostgreSQL of this test's own whose data directory is on a small
 * tmpfs mounted here. Filled up, publishes get 503 + Retry-After (never 500), nothing
 * acknowledged is lost, and once space is freed the system recovers by itself.
 *
 * Needs root (mount); skipped with the reason printed otherwise.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded';
import { type TestAggregator, makeEvent, startTestAggregator } from '../support/harness';

/** Mounts a size-limited tmpfs; returns its path, or the reason it cannot. */
function mountSmallDisk(): { path: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'not root: cannot mount a small filesystem for PostgreSQL' };
  // Under /tmp (mode 1777): the unprivileged server user must reach the mount point.
  const path = mkdtempSync('/tmp/logbus-diskfull-');
  chmodSync(path, 0o755);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=0755', 'logbus-diskfull', path], { stdio: 'pipe' });
    return { path };
  } catch (error) {
    rmSync(path, { recursive: true, force: true });
    return { skip: `mount -t tmpfs failed (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})` };
  }
}

const disk = mountSmallDisk();
if ('skip' in disk) console.log(`disk-full test skipped: ${disk.skip}`);

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
}, 60_000);

/** Writes zeros into `file` until the filesystem refuses; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1024 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk, 0, chunk.length);
      } catch {
        // The last megabyte did not fit: finish with what still does, byte-page by page.
        const small = Buffer.alloc(4096);
        for (;;) {
          try {
            written += writeSync(fd, small);
          } catch {
            return written;
          }
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

const big = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => makeEvent({ topic: 'disk', event_id: `${prefix}-${i}`, payload: { i, pad: 'y'.repeat(4_000) } }));

describe('a full disk', () => {
  test.skipIf('skip' in disk)(
    'publishes get 503 + Retry-After, never 500; nothing acknowledged is lost; recovery by itself once space is freed',
    async () => {
      const mount = (disk as { path: string }).path;
      cleanups.push(() => {
        execFileSync('umount', ['-l', mount]);
        rmSync(mount, { recursive: true, force: true });
      });
      const server: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir: join(mount, 'data') });
      cleanups.push(() => server.stop());
      const node: TestAggregator = await startTestAggregator({ LOG_LEVEL: 'silent' }, { url: server.url, name: 'postgres', drop: async () => {} });
      cleanups.push(() => node.close());

      const acknowledged = new Set<string>();
      const publish = async (events: Record<string, unknown>[]) => {
        const response = await node.publish(events);
        if (response.status === 202) for (const e of events) acknowledged.add(e.event_id as string);
        return response;
      };
      expect((await publish(big('before', 200))).status).toBe(202);
      await node.drained();

      const filler = join(mount, 'filler');
      const filled = fill(filler);
      expect(filled).toBeGreaterThan(0);

      // While full: every answer is 202 (it fit in pages already allocated: committed for real)
      // or 503 with Retry-After; never a 500.
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const response = await publish(big(`full${i}`, 50));
        statuses.push(response.status);
        if (response.status === 503) {
          expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
          const body = (await response.json()) as { error: string };
          expect(body.error).toContain('storage');
          if (i === 19) console.log(`last 503: ${body.error}`);
        } else await response.text();
      }
      console.log(
        `disk full (${(filled / 1048576).toFixed(0)} MiB filler): statuses ${JSON.stringify(Object.fromEntries(statuses.reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<number, number>())))}`,
      );
      expect(statuses.every((s) => s === 202 || s === 503)).toBe(true);
      expect(statuses).toContain(503);

      // Space comes back (retention or an operator would do this); no restart of anything.
      unlinkSync(filler);
      const deadline = Date.now() + 60_000;
      let recovered = false;
      for (let i = 0; !recovered && Date.now() < deadline; i++) {
        const response = await publish(big(`after${i}`, 50));
        await response.text();
        recovered = response.status === 202;
        if (!recovered) await Bun.sleep(500);
      }
      expect(recovered).toBe(true);
      const stats = await node.drained(60_000);
      expect(stats.received).toBe(stats.unique_processed + stats.duplicate_dropped + stats.pending);

      // Every acknowledged event is stored, exactly once.
      const sql = postgres(server.url, { max: 1 });
      const rows = await sql<{ event_id: string }[]>`SELECT event_id FROM events WHERE topic = 'disk'`;
      await sql.end();
      const stored = rows.map((r) => r.event_id);
      expect(new Set(stored).size).toBe(stored.length);
      for (const id of acknowledged) expect(stored).toContain(id);
      expect(stats.unique_processed).toBe(stored.length);
    },
    180_000,
  );
});
