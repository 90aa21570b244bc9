/**
 * docs/TLS.md, tested: the aggregator against a PostgreSQL that accepts TLS connections only
 * (ssl=on, pg_hba `hostssl` lines and nothing else), with a throwaway CA made by openssl here.
 * `sslmode=verify-full` in DATABASE_URL plus the CA in NODE_EXTRA_CA_CERTS works end to end and
 * every session of the aggregator is encrypted; without the CA the certificate is refused (the
 * verification is real), and without TLS the server refuses the connection (it really requires it).
 */
import { afterAll, expect, test } from 'bun:test';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, copyFileSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { spawnAggregator } from '../../local/process';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded';
import { WORKER_MIN_BYTES } from '../../src/ingest/decode-pool';
import { waitDrained, waitFor } from '../support/faults';
import { makeEvents } from '../support/harness';

const folder = mkdtempSync(join(tmpdir(), 'logbus-db-tls-'));
let server: EmbeddedPostgres | null = null;
afterAll(async () => {
  await server?.stop();
  rmSync(folder, { recursive: true, force: true });
});

const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: folder, stdio: 'pipe' });

/** A CA and a server certificate for localhost and 127.0.0.1, signed by it. */
function makeCertificates(): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=logbus test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(folder, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.crt',
  );
}

/** Turns TLS on and allows only TLS connections, then restarts the server. */
async function requireTls(dataDir: string): Promise<EmbeddedPostgres> {
  const first = await startEmbeddedPostgres({ dataDir });
  const cluster = first.databaseDir;
  await first.stop();
  const owner = lstatSync(cluster);
  for (const name of ['server.crt', 'server.key']) {
    copyFileSync(join(folder, name), join(cluster, name));
    execFileSync('chmod', ['600', join(cluster, name)]);
    chownSync(join(cluster, name), owner.uid, owner.gid);
  }
  appendFileSync(join(cluster, 'postgresql.conf'), "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
  writeFileSync(join(cluster, 'pg_hba.conf'), 'hostssl all all 127.0.0.1/32 scram-sha-256\n');
  return startEmbeddedPostgres({ dataDir });
}

test('against a PostgreSQL that requires TLS: verify-full with the CA works, without the CA it is refused', async () => {
  makeCertificates();
  server = await requireTls(join(folder, 'data'));
  const base = server.url.replace('127.0.0.1', 'localhost');

  // Positive controls: this server refuses a connection without TLS, and takes one with it.
  const plain = postgres(`${base}?sslmode=disable`, { max: 1, connect_timeout: 10 });
  await expect(plain`SELECT 1`).rejects.toThrow(/no pg_hba.conf entry|SSL off/);
  await plain.end();
  const encrypted = postgres(`${base}?sslmode=require`, { max: 1 });
  expect((await encrypted`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`)[0]!.ssl).toBe(true);

  // Without the CA, verify-full refuses the server's certificate: the replica never gets ready.
  const untrusting = await spawnAggregator({ DATABASE_URL: `${base}?sslmode=verify-full`, NODE_EXTRA_CA_CERTS: '' });
  try {
    await waitFor('a certificate error', () => /certificate/i.test(untrusting.output()), 60_000);
    expect((await fetch(`${untrusting.url}/ready`).catch(() => null))?.status ?? 503).toBe(503);
  } finally {
    untrusting.kill('SIGKILL');
    await untrusting.exited;
  }

  // With the CA (as the chart mounts it from a Secret): ready, publishes, reads, all sessions TLS.
  const aggregator = await spawnAggregator({ DATABASE_URL: `${base}?sslmode=verify-full`, NODE_EXTRA_CA_CERTS: join(folder, 'ca.crt') });
  try {
    await aggregator.waitReady(60_000);
    // Two batches: a small one (the group commit) and one over WORKER_MIN_BYTES (the decode
    // worker's own connection stores it), so every kind of session exists when they are checked.
    const publish = (events: Record<string, unknown>[]) =>
      fetch(`${aggregator.url}/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    const small = makeEvents(50, 1, 'tls').map((e) => ({ ...e, topic: 'tls' }));
    const large = makeEvents(300, 1, 'tls-large').map((e) => ({ ...e, topic: 'tls', payload: { pad: 'x'.repeat(1000) } }));
    expect(JSON.stringify(large).length).toBeGreaterThan(WORKER_MIN_BYTES);
    expect((await publish(small)).status).toBe(202);
    expect((await publish(large)).status).toBe(202);
    expect((await waitDrained(aggregator.url)).unique_processed).toBe(350);
    const page = (await (await fetch(`${aggregator.url}/events?topic=tls&limit=1000`)).json()) as { events: unknown[] };
    expect(page.events.length).toBe(350);
    const sessions = await encrypted<{ application: string; ssl: boolean; n: number }[]>`
      SELECT a.application_name AS application, s.ssl, count(*)::int AS n FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
      WHERE a.application_name LIKE 'logbus-aggregator%' GROUP BY 1, 2 ORDER BY 1, 2`;
    expect(sessions.map(({ application, ssl }) => ({ application, ssl }))).toEqual([
      { application: 'logbus-aggregator', ssl: true },
      { application: 'logbus-aggregator-ingest', ssl: true },
    ]);
  } finally {
    aggregator.kill('SIGTERM');
    await aggregator.exited;
    await encrypted.end();
  }
}, 180_000);
