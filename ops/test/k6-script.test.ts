/**
 * k6/load.js: there is no k6 binary here, so the script is (1) parsed as an ES module by Bun's
 * transpiler, (2) imported with the k6 modules mocked, and its pure parts unit-tested, and (3)
 * checked to be byte-identical to the copies the chart and kustomize ship.
 */
import { describe, expect, mock, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './support/paths.ts';

const SCRIPT = join(REPO, 'k6/load.js');

const calls: { url: string; body?: string }[] = [];
mock.module('k6/http', () => ({
  default: {
    get: (url: string) => {
      calls.push({ url });
      return { status: 200, json: () => ({}) };
    },
    post: (url: string, body: string) => {
      calls.push({ url, body });
      return { status: 202 };
    },
    expectedStatuses: (...s: number[]) => s,
  },
}));
mock.module('k6', () => ({ check: () => true, sleep: () => {} }));
mock.module('k6/metrics', () => ({
  Counter: class {
    add() {}
  },
  Rate: class {
    add() {}
  },
}));
mock.module('k6/execution', () => ({ default: { vu: { idInTest: 1 }, test: { abort: () => {}, fail: () => {} } } }));
(globalThis as any).__ENV = { VUS: '7', DURATION: '3s', P95_MS: '800', MAX_ERROR_RATE: '0.02' };
const k6 = await import(SCRIPT);

describe('k6/load.js', () => {
  test('parses as an ES module (Bun transpiler)', () => {
    const out = new Bun.Transpiler({ loader: 'js' }).scan(readFileSync(SCRIPT, 'utf8'));
    expect(out.imports.map((i) => i.path).sort()).toEqual(['k6', 'k6/execution', 'k6/http', 'k6/metrics']);
    expect(out.exports).toEqual(expect.arrayContaining(['options', 'setup', 'default', 'teardown', 'handleSummary']));
  });

  test("defaults are the report's load: 50 VUs, 20 s, batches of 50, 37 % duplicates", () => {
    const s = k6.readSettings({});
    expect(s).toMatchObject({ vus: 50, duration: '20s', batch: 50, dupRate: 0.37, baseUrl: 'http://127.0.0.1:8080' });
  });

  test('options come from __ENV and carry p95, error-rate and invariant thresholds', () => {
    expect(k6.options.vus).toBe(7);
    expect(k6.options.duration).toBe('3s');
    expect(k6.options.thresholds).toEqual({
      http_req_duration: ['p(95)<800'],
      http_req_failed: ['rate<0.02'],
      stats_invariant: ['rate==1'],
    });
  });

  test('bad settings are rejected, not silently defaulted', () => {
    expect(() => k6.readSettings({ VUS: '0' })).toThrow(/VUS/);
    expect(() => k6.readSettings({ DUP_RATE: '1' })).toThrow(/DUP_RATE/);
  });

  test('a batch holds about dupRate duplicates, each an exact earlier event', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const state = { seq: 0, ring: [] as any[] };
    let total = 0;
    let dups = 0;
    const seen = new Map<string, string>();
    for (let b = 0; b < 200; b++) {
      const { events, duplicates } = k6.makeBatch(state, { size: 50, dupRate: 0.37, topics: 4, runId: 'r', vu: 3 }, random);
      expect(events).toHaveLength(50);
      let counted = 0;
      for (const e of events) {
        const key = `${e.topic}/${e.event_id}`;
        if (seen.has(key)) {
          counted++;
          expect(JSON.stringify(e)).toBe(seen.get(key)!);
        } else seen.set(key, JSON.stringify(e));
        expect(e.topic).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      }
      expect(counted).toBe(duplicates);
      total += events.length;
      dups += duplicates;
    }
    expect(dups / total).toBeGreaterThan(0.33);
    expect(dups / total).toBeLessThan(0.41);
  });

  test('the invariant check accepts consistent /stats and names the mismatch otherwise', () => {
    expect(k6.invariantProblems({ received: 10, unique_processed: 6, duplicate_dropped: 3, pending: 1 })).toEqual([]);
    expect(k6.invariantProblems({ received: 10, unique_processed: 6, duplicate_dropped: 3, pending: 0 })[0]).toMatch(/received 10 != .*= 9/);
    expect(k6.invariantProblems({ received: 1 })[0]).toMatch(/lacks/);
  });

  test('one iteration posts a JSON array of `batch` events to /publish', () => {
    calls.length = 0;
    k6.default({ runId: 't' });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('http://127.0.0.1:8080/publish');
    expect(JSON.parse(calls[0]!.body!)).toHaveLength(50);
  });

  test('the chart and kustomize ship byte-identical copies (run `npm run -w @logbus/ops sync`)', () => {
    const source = readFileSync(SCRIPT, 'utf8');
    expect(readFileSync(join(REPO, 'charts/aggregator/files/load.js'), 'utf8')).toBe(source);
    expect(readFileSync(join(REPO, 'k8s/jobs/load.js'), 'utf8')).toBe(source);
  });
});
