/**
 * kind-config.yaml against kind's v1alpha4 Cluster fields (a strict JSON schema written from
 * sigs.k8s.io/kind/pkg/apis/config/v1alpha4/types.go: unknown keys are errors, as kind's strict
 * decoder makes them), plus what logbus needs from it.
 */
import { describe, expect, test } from 'bun:test';
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART_DIR, REPO_ROOT } from '../src/chart.ts';

const str = { type: 'string' };
const patches = { type: 'array', items: str };
const json6902 = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['group', 'version', 'kind', 'patch'],
    properties: { group: str, version: str, kind: str, patch: str },
  },
};
const KIND_V1ALPHA4 = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'apiVersion'],
  properties: {
    kind: { const: 'Cluster' },
    apiVersion: { const: 'kind.x-k8s.io/v1alpha4' },
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    featureGates: { type: 'object', additionalProperties: { type: 'boolean' } },
    runtimeConfig: { type: 'object', additionalProperties: str },
    networking: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ipFamily: { enum: ['ipv4', 'ipv6', 'dual'] },
        apiServerPort: { type: 'integer', minimum: -1, maximum: 65535 },
        apiServerAddress: str,
        podSubnet: str,
        serviceSubnet: str,
        disableDefaultCNI: { type: 'boolean' },
        kubeProxyMode: { enum: ['iptables', 'ipvs', 'nftables', 'none'] },
        dnsSearch: { type: 'array', items: str },
      },
    },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['role'],
        properties: {
          role: { enum: ['control-plane', 'worker'] },
          image: str,
          labels: { type: 'object', additionalProperties: str },
          extraMounts: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['hostPath', 'containerPath'],
              properties: {
                containerPath: str,
                hostPath: str,
                readOnly: { type: 'boolean' },
                selinuxRelabel: { type: 'boolean' },
                propagation: { enum: ['None', 'HostToContainer', 'Bidirectional'] },
              },
            },
          },
          extraPortMappings: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['containerPort'],
              properties: {
                containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
                hostPort: { type: 'integer', minimum: 0, maximum: 65535 },
                listenAddress: str,
                protocol: { enum: ['TCP', 'UDP', 'SCTP'] },
              },
            },
          },
          kubeadmConfigPatches: patches,
          kubeadmConfigPatchesJSON6902: json6902,
        },
      },
    },
    kubeadmConfigPatches: patches,
    kubeadmConfigPatchesJSON6902: json6902,
    containerdConfigPatches: patches,
    containerdConfigPatchesJSON6902: { type: 'array', items: str },
  },
};

const validate = new Ajv({ allErrors: true }).compile(KIND_V1ALPHA4);
const config = parse(readFileSync(join(REPO_ROOT, 'kind-config.yaml'), 'utf8'));

describe('kind-config.yaml', () => {
  test("matches kind's v1alpha4 Cluster fields (unknown keys rejected)", () => {
    validate(config);
    expect(validate.errors ?? []).toEqual([]);
  });

  test('the schema rejects a misspelt field (it is not vacuous)', () => {
    expect(validate({ ...config, networking: { ...config.networking, disableDefaultCni: true } })).toBe(false);
  });

  test('the default CNI is off, so a policy-enforcing CNI (Calico) is installed instead', () => {
    expect(config.networking.disableDefaultCNI).toBe(true);
    expect(config.networking.podSubnet).toBe('192.168.0.0/16');
  });

  test("host 127.0.0.1:30080 maps to the aggregator's NodePort from ci/kind-values.yaml (8080 stays free for Tilt/compose)", () => {
    const kindValues = parse(readFileSync(join(CHART_DIR, 'ci/kind-values.yaml'), 'utf8'));
    const mappings = config.nodes.flatMap((n: any) => n.extraPortMappings ?? []);
    expect(mappings).toContainEqual({ containerPort: kindValues.service.nodePort, hostPort: 30080, listenAddress: '127.0.0.1', protocol: 'TCP' });
    expect(kindValues.service.type).toBe('NodePort');
  });

  test('one control plane and at least one worker', () => {
    expect(config.nodes.filter((n: any) => n.role === 'control-plane')).toHaveLength(1);
    expect(config.nodes.filter((n: any) => n.role === 'worker').length).toBeGreaterThan(0);
  });
});
