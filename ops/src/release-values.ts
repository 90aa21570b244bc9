/**
 * The values a Helm release was installed with, read back from the cluster, so the Jobs the tool
 * renders from charts/aggregator match the release without the user repeating every `-f` and
 * `--set` (after the documented kind install, a publish without them rendered the chart's default
 * image logbus-publisher:0.1.0 and ended in ErrImagePull).
 *
 * Helm 3 keeps each revision in a Secret `sh.helm.release.v1.<release>.v<N>` labelled
 * owner=helm, name=<release>, status=deployed; its `release` field is base64 (Helm's) of a
 * gzipped JSON release whose `config` holds exactly the user-supplied values.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { api, type Cluster } from './kube.ts';

export interface ReleaseValues {
  revision: number;
  /** The user-supplied values (helm get values), as a values file for helm template. */
  file: string;
  config: Record<string, unknown>;
}

/** Decodes the `release` field of a Helm release Secret (already base64-decoded once by Kubernetes). */
export function decodeHelmRelease(release: string): { version: number; config: Record<string, unknown> } {
  const zipped = Buffer.from(release, 'base64');
  const json = zipped[0] === 0x1f && zipped[1] === 0x8b ? gunzipSync(zipped).toString('utf8') : zipped.toString('utf8');
  const parsed = JSON.parse(json) as { version?: number; config?: Record<string, unknown> | null };
  return { version: parsed.version ?? 0, config: parsed.config ?? {} };
}

/**
 * The deployed revision's values, or a reason why there are none (not installed with Helm, e.g.
 * the kustomize manifests in k8s/; or no permission to read Secrets): then the chart's defaults
 * and the user's flags apply, as before.
 */
export async function readReleaseValues(c: Cluster, release: string): Promise<ReleaseValues | { missing: string }> {
  const labelSelector = `owner=helm,name=${release},status=deployed`;
  let secrets: Awaited<ReturnType<typeof c.core.listNamespacedSecret>>;
  try {
    secrets = await api(c, () => c.core.listNamespacedSecret({ namespace: c.namespace, labelSelector }));
  } catch (err) {
    return { missing: `cannot read Helm's release Secrets (${(err as Error).message})` };
  }
  const latest = secrets.items
    .filter((s) => s.data?.release)
    .sort((a, b) => Number(b.metadata?.labels?.version ?? 0) - Number(a.metadata?.labels?.version ?? 0))[0];
  if (!latest) return { missing: `no deployed Helm release "${release}" in namespace ${c.namespace}` };
  const helmBase64 = Buffer.from(latest.data!.release!, 'base64').toString('utf8');
  const { version, config } = decodeHelmRelease(helmBase64);
  const file = join(mkdtempSync(join(tmpdir(), 'logbus-release-')), 'values.json');
  writeFileSync(file, JSON.stringify(config));
  return { revision: version, file, config };
}
