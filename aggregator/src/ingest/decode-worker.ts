/**
 * The decode worker's thread (see decode-pool.ts): prepares one body at a time and posts back
 * only what the enqueue needs (ingest/prepare.ts).
 */
import { joinChunks } from '../api/decompress';
import { type WorkerRequest, type WorkerReply, describeError } from './decode-pool';
import { prepareBody } from './prepare';

declare const self: Worker;

self.onmessage = ({ data }: MessageEvent<WorkerRequest>) => {
  let reply: WorkerReply;
  try {
    reply = { id: data.id, prepared: prepareBody(data.job, joinChunks(data.body), data.limits) };
  } catch (error) {
    reply = { id: data.id, error: describeError(error) };
  }
  self.postMessage(reply);
};
