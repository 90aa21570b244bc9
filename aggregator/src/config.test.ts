import { describe, expect, test } from 'bun:test';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  test('defaults match the documented contract', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      dataDir: './data',
      port: 8080,
      workers: 4,
      maxBodyBytes: 5 * 1024 * 1024,
      maxBatch: 5000,
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

  test('retention: defaults, durations, and DEDUP_WINDOW never shorter than RETENTION', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ retentionMs: 7 * 86_400_000, dedupWindowMs: 7 * 86_400_000, storageIntervalMs: 6 * 3_600_000, maxStorageBytes: 0 });
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
    }
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
});
