/**
 * `npm run cluster` (scripts/cluster.ts) as a developer runs it: embedded PostgreSQL in its data
 * folder, replicas on consecutive ports, a SIGKILLed replica started again, SIGTERM draining all.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn } from 'bun';
import { freePort } from '../../src/db/embedded';
import { statusOf, waitFor } from '../support/faults';
import { makeEvent } from '../support/harness';
import { SseReader } from '../support/sse';

const SCRIPT = resolve(import.meta.dir, '../../../scripts/cluster.ts');
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
}, 60_000);

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/** A first port with `count` free ports from it. */
async function freePorts(count: number): Promise<number> {
  for (;;) {
    const first = await freePort();
    const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => portIsFree(first + 1 + i)));
    if (first + count <= 65535 && rest.every(Boolean)) return first;
  }
}

describe('npm run cluster', () => {
  test('starts embedded PostgreSQL and 2 replicas, restarts a SIGKILLed one, SIGTERM drains all and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'logbus-cluster-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePorts(2);
    const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'warn' };
    const proc = spawn([process.execPath, SCRIPT, '--replicas', '2', '--port', String(port), '--data-dir', dataDir], {
      env,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    cleanups.push(() => proc.kill('SIGKILL'));
    let output = '';
    for (const stream of [proc.stdout, proc.stderr]) {
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
      })();
    }
    const urls = [0, 1].map((i) => `http://127.0.0.1:${port + i}`);
    // The URLs are printed on the lines after "[cluster] ready:", which may arrive in a later
    // chunk: wait for the ready line and everything after it (seen failing on a loaded machine).
    const announced = () => {
      const at = output.indexOf('[cluster] ready:');
      return at >= 0 && urls.every((url) => output.indexOf(url, at) >= 0);
    };
    await waitFor('the cluster to be ready', () => announced() || proc.exitCode !== null, 90_000, 100);
    expect(proc.exitCode).toBeNull();
    expect(announced()).toBe(true);
    for (const url of urls) expect(await statusOf(`${url}/ready`)).toBe(200);

    // One database behind both: published to replica 0, streamed by replica 1.
    const reader = new SseReader(await fetch(`${urls[1]}/subscribe?topic=cluster&after=0`));
    cleanups.push(() => reader.cancel());
    const publish = await fetch(`${urls[0]}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(makeEvent({ topic: 'cluster', event_id: 'hello' })),
    });
    expect(publish.status).toBe(202);
    expect(JSON.parse((await reader.nextEvent(10_000))!.data!).event_id).toBe('hello');
    await reader.cancel();

    const pid = Number(new RegExp(`replica 1 +http://127\\.0\\.0\\.1:${port + 1} +\\(pid (\\d+)\\)`).exec(output)![1]);
    process.kill(pid, 'SIGKILL');
    await waitFor('replica 1 to be started again', () => output.includes('replica 1 is back'), 60_000, 100);
    expect(output).toContain('replica 1 exited (code 137 (SIGKILL))');
    expect(await statusOf(`${urls[1]}/ready`)).toBe(200);

    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(output).toContain('replicas exited with 0, 0; done');
    for (const url of urls) expect(await statusOf(`${url}/health`, 1_000)).toBe('network');
    // The embedded server was stopped too (its pid file goes with it); its data stays for next time.
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
  }, 150_000);
});
