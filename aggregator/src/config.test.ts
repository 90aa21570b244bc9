import { describe, expect, test } from 'bun:test';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  test('INGEST_DEFAULT_TOPIC must be a topic name, the same rule as a published topic (api/contract.ts)', () => {
    expect(loadConfig({ INGEST_DEFAULT_TOPIC: `a${'b'.repeat(127)}` }).ingestDefaultTopic).toHaveLength(128);
    for (const bad of [`a${'b'.repeat(128)}`, '-dash', 'has space', 'slash/es'])
      expect(() => loadConfig({ INGEST_DEFAULT_TOPIC: bad })).toThrow(/INGEST_DEFAULT_TOPIC/);
  });

  test('byte budgets are read and bounded', () => {
    expect(loadConfig({ MAX_PAGE_BYTES: '1000', SUBSCRIBE_READ_BYTES: '2000', CLAIM_BYTES: '3000', INGEST_STATEMENT_BYTES: '4000' })).toMatchObject({
      maxPageBytes: 1000,
      subscribeReadBytes: 2000,
      claimBytes: 3000,
      ingestStatementBytes: 4000,
    });
    expect(() => loadConfig({ MAX_PAGE_BYTES: '0' })).toThrow(/MAX_PAGE_BYTES/);
  });

  test('defaults match the documented contract', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      dataDir: './data',
      port: 8080,
      workers: 4,
      maxBodyBytes: 5 * 1024 * 1024,
      maxBatch: 5000,
      maxPageBytes: 4 * 1024 * 1024,
      subscribeReadBytes: 1024 * 1024,
      claimBytes: 16 * 1024 * 1024,
      ingestStatementBytes: 16 * 1024 * 1024,
      authTokens: [],
      ingestMaxItems: 200_000,
      ingestMaxPayloadBytes: 16 * 1024 * 1024,
      maxJsonDepth: 64,
      bodyReadTimeoutMs: 30_000,
      ingestBytesInFlight: 64 * 1024 * 1024,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('the ingest limits (docs/LIMITS.md) are read and validated', () => {
    const env = {
      INGEST_MAX_ITEMS: '10',
      INGEST_MAX_PAYLOAD_BYTES: '2048',
      MAX_JSON_DEPTH: '8',
      BODY_READ_TIMEOUT_MS: '500',
      INGEST_BYTES_IN_FLIGHT: '2097152',
    };
    expect(loadConfig(env)).toMatchObject({
      ingestMaxItems: 10,
      ingestMaxPayloadBytes: 2048,
      maxJsonDepth: 8,
      bodyReadTimeoutMs: 500,
      ingestBytesInFlight: 2097152,
    });
    for (const name of Object.keys(env)) expect(() => loadConfig({ [name]: '0' })).toThrow(name);
    expect(() => loadConfig({ MAX_JSON_DEPTH: '5000' })).toThrow('MAX_JSON_DEPTH');
  });

  test('reads every variable', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/x',
      DATA_DIR: '/var/lib/logbus',
      PORT: '9000',
      WORKERS: '4',
      BATCH_SIZE: '500',
      MAX_BODY_BYTES: '2048',
      MAX_BATCH: '10',
      MAX_PENDING: '100',
      DRAIN_TIMEOUT_MS: '1000',
      AUTH_TOKEN: 'aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgres://u:p@db:5432/x',
      dataDir: '/var/lib/logbus',
      port: 9000,
      workers: 4,
      batchSize: 500,
      maxBodyBytes: 2048,
      maxBatch: 10,
      maxPending: 100,
      drainTimeoutMs: 1000,
      authTokens: [
        { name: 'auth-token-1', scopes: ['publish', 'read', 'admin', 'metrics'], token: 'aaaaaaaaaaaaaaaa' },
        { name: 'auth-token-2', scopes: ['publish', 'read', 'admin', 'metrics'], token: 'bbbbbbbbbbbbbbbb' },
      ],
      logLevel: 'debug',
    });
  });

  test('collects every problem into one error', () => {
    try {
      loadConfig({ PORT: 'eighty', WORKERS: '-1', MAX_BATCH: '1.5', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
      throw new Error('expected ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(5);
      expect(problems.join('\n')).toContain('PORT="eighty"');
      expect(problems.join('\n')).toContain('WORKERS="-1"');
      expect(problems.join('\n')).toContain('MAX_BATCH="1.5"');
      expect(problems.join('\n')).toContain('DATABASE_URL');
      expect(problems.join('\n')).toContain('LOG_LEVEL');
    }
  });

  test('READ_DATABASE_URL: a postgres URL, and only beside DATABASE_URL', () => {
    const primary = 'postgres://u:p@db:5432/x';
    expect(loadConfig({ DATABASE_URL: primary }).readDatabaseUrl).toBeUndefined();
    expect(loadConfig({ DATABASE_URL: primary, READ_DATABASE_URL: ' postgres://u:p@standby:5432/x ' }).readDatabaseUrl).toBe(
      'postgres://u:p@standby:5432/x',
    );
    expect(() => loadConfig({ DATABASE_URL: primary, READ_DATABASE_URL: 'mysql://x' })).toThrow(/READ_DATABASE_URL: expected a postgres/);
    expect(() => loadConfig({ READ_DATABASE_URL: 'postgres://u:p@standby:5432/x' })).toThrow(/READ_DATABASE_URL needs DATABASE_URL/);
  });

  test('the pool must leave HTTP a connection beside the workers', () => {
    expect(() => loadConfig({ WORKERS: '8', DB_POOL_SIZE: '8' })).toThrow(/DB_POOL_SIZE/);
  });

  test('retention: defaults, durations, and DEDUP_WINDOW never shorter than RETENTION', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({
      retentionMs: 7 * 86_400_000,
      dedupWindowMs: 7 * 86_400_000,
      storageIntervalMs: 6 * 3_600_000,
      maxStorageBytes: 0,
    });
    expect(loadConfig({ RETENTION: '3d', DEDUP_WINDOW: '2w', STORAGE_INTERVAL: '1h', MAX_STORAGE_BYTES: '1000000' })).toMatchObject({
      retentionMs: 3 * 86_400_000,
      dedupWindowMs: 14 * 86_400_000,
      storageIntervalMs: 3_600_000,
      maxStorageBytes: 1_000_000,
    });
    expect(() => loadConfig({ RETENTION: '14d' })).toThrow(/DEDUP_WINDOW \(7d\) must be at least RETENTION \(14d\)/);
    expect(() => loadConfig({ STORAGE_INTERVAL: '10m' })).toThrow(/at most 1000 partitions/);
    try {
      loadConfig({ RETENTION: '1.5d', DEDUP_WINDOW: '500ms', STORAGE_INTERVAL: '10ms', MAX_STORAGE_BYTES: '-1' });
      throw new Error('expected ConfigError');
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toContain('RETENTION="1.5d"');
      expect(problems).toContain('DEDUP_WINDOW="500ms"');
      expect(problems).toContain('STORAGE_INTERVAL="10ms"');
      expect(problems).toContain('MAX_STORAGE_BYTES="-1"');
    }
  });

  describe('tokens and subscriber bounds', () => {
    const A = 'aaaaaaaaaaaaaaaa';
    const B = 'bbbbbbbbbbbbbbbb:with:colons';

    test('AUTH_TOKENS grants named tokens scopes; AUTH_TOKEN keeps meaning every scope', () => {
      const config = loadConfig({
        AUTH_TOKEN: 'cccccccccccccccc',
        AUTH_TOKENS: ` dash:read:${A} ,\nsvc:publish+read:${B}, ops : ALL : dddddddddddddddd`,
      });
      expect(config.authTokens).toEqual([
        { name: 'auth-token-1', scopes: ['publish', 'read', 'admin', 'metrics'], token: 'cccccccccccccccc' },
        { name: 'dash', scopes: ['read'], token: A },
        { name: 'svc', scopes: ['publish', 'read'], token: B },
        { name: 'ops', scopes: ['publish', 'read', 'admin', 'metrics'], token: 'dddddddddddddddd' },
      ]);
    });

    test('AUTH_TOKENS_FILE: one entry per line, comments and blank lines ignored', () => {
      const files: Record<string, string> = {
        '/run/secrets/tokens': `# rotated 2026-11\n\ndash:read:${A}\r\nsvc:publish:${'e'.repeat(20)}  # CI\nhash:read:with#hash-0123456789\n`,
      };
      const config = loadConfig({ AUTH_TOKENS_FILE: '/run/secrets/tokens' }, (path) => files[path]!);
      expect(config.authTokens.map((g) => [g.name, g.scopes.join('+'), g.token])).toEqual([
        ['dash', 'read', A],
        ['svc', 'publish', 'e'.repeat(20)],
        ['hash', 'read', 'with#hash-0123456789'],
      ]);
      expect(() =>
        loadConfig({ AUTH_TOKENS_FILE: '/missing' }, () => {
          throw Object.assign(new Error('nope'), { code: 'ENOENT' });
        }),
      ).toThrow(/AUTH_TOKENS_FILE="\/missing": cannot read it \(ENOENT\)/);
    });

    test('bad entries are reported all at once, without quoting a token', () => {
      try {
        loadConfig({
          AUTH_TOKENS: `nocolon, x:read:short, y:write:${A}, bad name:read:${'f'.repeat(16)}, z:read:${A}, z:read:${'g'.repeat(16)}`,
          METRICS_AUTH: 'maybe',
        });
        throw new Error('expected ConfigError');
      } catch (error) {
        const problems = (error as ConfigError).problems.join('\n');
        expect(problems).toContain('AUTH_TOKENS entry 1: expected name:scope+scope:token');
        expect(problems).toContain('entry 2 (x): the token must be at least 16 characters');
        expect(problems).toContain('entry 3 (y): unknown scope "write"');
        expect(problems).toContain('name "bad name" must be');
        expect(problems).toContain('the token named "z" is configured twice');
        expect(problems).toContain('the name "z" is used twice');
        expect(problems).toContain('METRICS_AUTH="maybe"');
        expect(problems).not.toContain(A);
        expect(problems).not.toContain('short');
      }
    });

    test('subscriber caps default to 1000 per replica and 100 per token, 2 reads in flight', () => {
      expect(loadConfig({})).toMatchObject({ subscribeMax: 1000, subscribeMaxPerToken: 100, subscribeReadConcurrency: 2, metricsAuth: false });
      expect(
        loadConfig({ SUBSCRIBE_MAX: '5', SUBSCRIBE_MAX_PER_TOKEN: '2', SUBSCRIBE_READ_CONCURRENCY: '3', METRICS_AUTH: 'true', AUTH_TOKEN: A }),
      ).toMatchObject({
        subscribeMax: 5,
        subscribeMaxPerToken: 2,
        subscribeReadConcurrency: 3,
        metricsAuth: true,
      });
      expect(() => loadConfig({ AUTH_REQUIRED: 'true', AUTH_TOKENS_FILE: '/empty' }, () => '# no tokens yet\n')).toThrow(
        /AUTH_REQUIRED=true but no token/,
      );
      expect(loadConfig({ AUTH_REQUIRED: 'true', AUTH_TOKEN: A }).authTokens).toHaveLength(1);
      // A small pool keeps a connection for ingest: the default shrinks, an explicit value is checked.
      expect(loadConfig({ WORKERS: '0', DB_POOL_SIZE: '2' }).subscribeReadConcurrency).toBe(1);
      expect(() => loadConfig({ WORKERS: '2', DB_POOL_SIZE: '4', SUBSCRIBE_READ_CONCURRENCY: '2' })).toThrow(
        /SUBSCRIBE_READ_CONCURRENCY \(2\) must be below/,
      );
    });
  });
});
