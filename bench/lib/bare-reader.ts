/**
 * The floor for bench/hostile-health.ts: a bare `Bun.serve` that reads each request body the way
 * the aggregator does (its stream, chunk by chunk) and does nothing else, with the same /health and
 * the same longest-block metric. What /health waits for here, the aggregator cannot do better than
 * on this machine: it is Bun's request reading and the machine's scheduling, not the replica's work.
 *
 *   bun bench/lib/bare-reader.ts <port>
 */
import { loopBlocks } from '../../aggregator/src/ops/metrics/loop-block';

loopBlocks.start();
const server = Bun.serve({
  port: Number(process.argv[2]),
  maxRequestBodySize: 64 * 1024 * 1024,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === '/health' || path === '/ready') return new Response('ok');
    if (path === '/metrics') {
      const blocks = loopBlocks.take();
      return new Response(`logbus_eventloop_block_max_seconds{clock="cpu"} ${blocks?.cpuSeconds ?? Number.NaN}\n`);
    }
    let bytes = 0;
    const reader = request.body?.getReader();
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      bytes += chunk.value.byteLength;
    }
    return Response.json({ bytes });
  },
});
process.on('SIGTERM', () => {
  server.stop(true);
  process.exit(0);
});
