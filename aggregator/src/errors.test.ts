import { describe, expect, test } from 'bun:test';
import { StorageUnavailable, ValidationError, fromDatabaseError, isConnectionLoss, isUnavailable } from './errors';

/** A postgres.js error: a SQLSTATE or a connection code in `code`. */
const dbError = (code: string) => Object.assign(new Error(`database said ${code}`), { code });

describe('SQLSTATE to HTTP', () => {
  const unavailable = [
    '08000',
    '08003',
    '08006',
    '08001',
    '57P01',
    '57P02',
    '57P03',
    '25P03',
    '57P05',
    '53300',
    '57014',
    'ECONNREFUSED',
    'ECONNRESET',
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECTION_DESTROYED',
    'CONNECT_TIMEOUT',
  ];
  for (const code of unavailable) {
    test(`${code} is an outage: 503 with Retry-After, the cause kept`, () => {
      const error = dbError(code);
      expect(isUnavailable(error)).toBe(true);
      const mapped = fromDatabaseError(error);
      expect(mapped).toBeInstanceOf(StorageUnavailable);
      const response = (mapped as StorageUnavailable).toResponse();
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect((mapped as Error).cause).toBe(error);
    });
  }

  // Not outages: a retry elsewhere would fail the same way, so they stay errors (500, logged).
  for (const code of ['23505', '22P02', '42P01', '40001', '40P01', '22021']) {
    test(`${code} is not an outage`, () => {
      const error = dbError(code);
      expect(isUnavailable(error)).toBe(false);
      expect(fromDatabaseError(error)).toBe(error);
    });
  }

  test('values that are not database errors pass through', () => {
    expect(isUnavailable('08006')).toBe(false);
    expect(isUnavailable(new Error('no code'))).toBe(false);
    const appError = new ValidationError('bad');
    expect(fromDatabaseError(appError)).toBe(appError);
  });
});

describe('insufficient resources', () => {
  test('a full disk is a 503 saying so, with a longer Retry-After', () => {
    const mapped = fromDatabaseError(dbError('53100'));
    expect(mapped).toBeInstanceOf(StorageUnavailable);
    const response = (mapped as StorageUnavailable).toResponse();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  test('class 53 and I/O errors are outages', () => {
    for (const code of ['53000', '53100', '53200', '58030']) expect(isUnavailable(dbError(code))).toBe(true);
  });
});

// The process-level safety net (ops/shutdown.ts) absorbs unhandled rejections of these only.
describe('isConnectionLoss', () => {
  test('postgres.js connection errors, socket errors and server shutdown codes are connection loss', () => {
    for (const code of [
      'CONNECTION_CLOSED',
      'CONNECTION_ENDED',
      'CONNECTION_DESTROYED',
      'CONNECT_TIMEOUT',
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      '57P01',
      '57P03',
      '08006',
    ]) {
      expect(isConnectionLoss(Object.assign(new Error('x'), { code }))).toBe(true);
    }
  });

  test('anything else is not: it must still end the process', () => {
    for (const reason of [
      new Error('boom'),
      new TypeError('x'),
      Object.assign(new Error('x'), { code: '23505' }),
      null,
      undefined,
      'CONNECTION_CLOSED',
      { code: 42 },
    ]) {
      expect(isConnectionLoss(reason)).toBe(false);
    }
  });
});
