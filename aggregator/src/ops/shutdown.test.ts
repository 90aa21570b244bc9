import { describe, expect, test } from 'bun:test';
import { isConnectionLoss } from './shutdown';

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
