/**
 * One informer on LogTopics in its own Bun process (the operator image's runtime), for
 * informer.test.ts: `bun informer-probe.ts <api-server-url>` prints one JSON line per change
 * ({"event":"changed"|"deleted","name":...}) and per watch restart ({"restart":...}), besides the
 * informer's own log lines; SIGTERM ends it. With `--control` it instead makes one watch request
 * without the informer's `timeout: false` and prints how it ended ({"control":...}).
 */
import { Informer } from '../../../src/operator/informer.ts';
import { KubeApi } from '../../../src/operator/kube-api.ts';
import { createLogger } from '../../../src/operator/log.ts';
import { LOGTOPIC } from '../../../src/operator/resources.ts';

const [server, mode] = process.argv.slice(2);
if (!server) throw new Error('usage: informer-probe.ts <api-server-url> [--control]');
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (mode === '--control') {
  // Positive control for the idle-timeout check: a plain fetch of a quiet watch.
  const started = Date.now();
  try {
    const res = await fetch(`${server}/api/v1/namespaces/control/configmaps?watch=true&timeoutSeconds=600`);
    for await (const _ of res.body!);
    print({ control: 'ended', ms: Date.now() - started });
  } catch (err) {
    print({ control: 'failed', error: String(err), ms: Date.now() - started });
  }
  process.exit(0);
}

const api = new KubeApi(server, (url, init) => fetch(url, init));
const informer = new Informer(
  api,
  LOGTOPIC,
  (obj, deleted) => print({ event: deleted ? 'deleted' : 'changed', name: obj.metadata.name }),
  createLogger('debug'),
  { resyncMs: 3_600_000, watchTimeoutSeconds: 600, onRestart: (_resource, reason) => print({ restart: reason }) },
);
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
await informer.run(stop.signal);
print({ stopped: true });
