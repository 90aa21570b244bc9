import { describe, expect, test } from 'bun:test';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
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
    });
    expect(Object.isFrozen(config)).toBe(true);
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
      authTokens: ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'],
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

  test('the pool must leave HTTP a connection beside the workers', () => {
    expect(() => loadConfig({ WORKERS: '8', DB_POOL_SIZE: '8' })).toThrow(/DB_POOL_SIZE/);
  });
});
