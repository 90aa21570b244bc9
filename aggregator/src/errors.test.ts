import { describe, expect, test } from 'bun:test';
import { StorageUnavailable, fromDatabaseError, isUnavailable } from './errors';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('database errors at the boundary', () => {
  test('a full disk is a 503 saying so, with a longer Retry-After', () => {
    const mapped = fromDatabaseError(pgError('53100'));
    expect(mapped).toBeInstanceOf(StorageUnavailable);
    const response = (mapped as StorageUnavailable).toResponse();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  test('insufficient resources (class 53) and I/O errors are outages; constraint violations are not', () => {
    for (const code of ['53000', '53100', '53200', '53300', '58030', '08006', '57P01']) expect(isUnavailable(pgError(code))).toBe(true);
    for (const code of ['23505', '22P02', '42P01']) expect(isUnavailable(pgError(code))).toBe(false);
  });
});
