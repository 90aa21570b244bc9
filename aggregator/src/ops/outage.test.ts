import { describe, expect, test } from 'bun:test';
import { createLogger } from '../log';
import { DatabaseOutage } from './outage';

/** A real pino logger writing JSON lines into an array; the outage's messages in order. */
function logged() {
  const lines: string[] = [];
  const outage = new DatabaseOutage(createLogger('debug', { pretty: false, write: (line) => void lines.push(line) }));
  const messages = () => lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
  return { outage, messages };
}

// What a terminated session reports (57P01 is one of the codes errors.ts calls unavailable).
const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

describe('one line per change of the database reachability', () => {
  test('a success of a call begun after the outage was seen ends it, once', () => {
    const { outage, messages } = logged();
    expect(outage.failed(terminated)).toBe(true);
    expect(outage.failed(terminated)).toBe(true);
    expect(outage.covers()).toBe(true);
    outage.succeeded(performance.now());
    outage.succeeded(performance.now());
    expect(outage.covers()).toBe(false);
    expect(messages()).toEqual(['database unreachable, retrying', 'database back after 0 s']);
  });

  test('a call already on its way when the server went does not end the outage', () => {
    const { outage, messages } = logged();
    const begunBefore = performance.now() - 1; // a millisecond before the failure below
    outage.failed(terminated);
    // Its answer arrives after another call's failure: the database is not back because of it.
    outage.succeeded(begunBefore);
    expect(outage.covers()).toBe(true);
    outage.failed(terminated);
    expect(messages()).toEqual(['database unreachable, retrying']);
  });

  test('a call begun before the database was back that fails after it is an echo, not a new outage', () => {
    const { outage, messages } = logged();
    outage.failed(terminated, performance.now());
    const begunDuringOutage = performance.now() - 1; // before the success below
    outage.succeeded(performance.now());
    // A connection attempt made during the outage times out after the database is back.
    expect(outage.failed(Object.assign(new Error('write CONNECT_TIMEOUT'), { code: 'CONNECT_TIMEOUT' }), begunDuringOutage)).toBe(true);
    expect(outage.covers()).toBe(false);
    // Its request's 503 is logged at debug, as the outage's were (ops/request-log.ts).
    expect(outage.covers(begunDuringOutage)).toBe(true);
    expect(outage.covers(performance.now())).toBe(false);
    expect(messages()).toEqual(['database unreachable, retrying', 'database back after 0 s']);
    // Positive control: a call begun after it, failing, is a new outage.
    expect(outage.failed(terminated, performance.now())).toBe(true);
    expect(outage.covers()).toBe(true);
    expect(messages()).toEqual(['database unreachable, retrying', 'database back after 0 s', 'database unreachable, retrying']);
  });

  test('an error that is not an outage is left to the caller', () => {
    const { outage, messages } = logged();
    expect(outage.failed(Object.assign(new Error('syntax error'), { code: '42601' }))).toBe(false);
    expect(outage.covers()).toBe(false);
    expect(messages()).toEqual([]);
  });
});
