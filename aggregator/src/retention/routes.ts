/**
 * GET /topics (scope: read), PUT /topics/:topic and DELETE /topics/:topic (scope: admin):
 * per-topic storage, the retention override, and removing a topic.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import type { Config } from '../config';
import type { Sql } from '../db/client';
import { NotFound, PayloadTooLarge, ValidationError, schemaDetails } from '../errors';
import { parseJsonBody, readBodyText } from '../api/body';
import { ErrorBody, TOPIC_RULE, isTopic } from '../api/contract';
import { jsonContent } from '../api/openapi';
import { formatDuration, parseDuration } from './duration';
import { deleteTopic, readTopicStorage, setTopicRetention, type TopicStorage } from './topics';

const MAX_BODY = 4096;

export const TopicInfo = t.Object({
  topic: t.String(),
  retention: t.String({ description: 'Effective retention, e.g. "7d".' }),
  retention_override: t.Union([t.String(), t.Null()], { description: 'Set by PUT /topics/{topic}; null: the global RETENTION applies.' }),
  stored: t.Integer({ description: 'Events stored now.' }),
  bytes: t.Integer({ description: 'Bytes of the stored events (row data, without indexes).' }),
  oldest_seq: t.Union([t.Integer(), t.Null()]),
  newest_seq: t.Union([t.Integer(), t.Null()]),
  expired: t.Integer({ description: 'Events removed by retention so far.' }),
  expired_through: t.Integer({ description: 'Highest expired seq (0: none).' }),
});

export const TopicsList = t.Object({
  retention: t.String({ description: 'The global RETENTION.' }),
  dedup_window: t.String({ description: 'DEDUP_WINDOW: how long (topic, event_id) keys are kept.' }),
  topics: t.Array(TopicInfo),
});

export const RetentionBody = t.Object(
  {
    retention: t.Union([t.String({ description: 'A duration: 30s, 12h, 3d, 2w.' }), t.Null()], {
      description: 'null: back to the global RETENTION.',
    }),
  },
  { additionalProperties: false },
);

export const TopicDeleted = t.Object({
  topic: t.String(),
  deleted: t.Integer({ description: 'Stored events removed.' }),
  dedup_keys: t.String({ description: "What happens to the topic's (topic, event_id) keys: kept for DEDUP_WINDOW." }),
});

const checkBody = TypeCompiler.Compile(RetentionBody);

export interface TopicsDeps {
  sql: Sql;
  config: Config;
  /** Runs a maintenance round at once, so partitions for a longer retention exist before its first apply. */
  maintain: () => Promise<unknown>;
}

function render(topic: TopicStorage, config: Config) {
  const override = topic.retentionSeconds === null ? null : formatDuration(topic.retentionSeconds * 1000);
  return {
    topic: topic.topic,
    retention: override ?? formatDuration(config.retentionMs),
    retention_override: override,
    stored: topic.stored,
    bytes: topic.bytes,
    oldest_seq: topic.oldestSeq,
    newest_seq: topic.newestSeq,
    expired: topic.expired,
    expired_through: topic.expiredThrough,
  };
}

/** The retention in seconds from a PUT body, or a ValidationError naming what is wrong. */
async function parseRetention(request: Request, config: Config): Promise<number | null> {
  let text: string;
  try {
    text = await readBodyText(request, { maxBodyBytes: MAX_BODY, bodyReadTimeoutMs: config.bodyReadTimeoutMs });
  } catch (error) {
    if (error instanceof PayloadTooLarge) throw new PayloadTooLarge(`request body exceeds ${MAX_BODY} bytes`);
    throw error;
  }
  const body = parseJsonBody(text, 'JSON body: expected {"retention": "3d"}');
  if (!checkBody.Check(body)) {
    throw new ValidationError('invalid body: expected {"retention": "3d"} or {"retention": null}', schemaDetails(checkBody.Errors(body), null));
  }
  if (body.retention === null) return null;
  const ms = parseDuration(body.retention);
  const problem =
    ms === null || ms % 1000 !== 0 || ms < 1000
      ? 'expected a duration in whole seconds, at least 1s: 30s, 12h, 3d, 2w'
      : ms > config.dedupWindowMs
        ? `must not exceed DEDUP_WINDOW (${formatDuration(config.dedupWindowMs)}): keys must outlive the events they protect`
        : null;
  if (problem) throw new ValidationError('invalid retention', [{ index: null, field: 'retention', message: problem }]);
  return ms! / 1000;
}

/** The topic of a /topics/:topic route, or a ValidationError. Elysia has decoded it; a malformed escape leaves it null. */
function topicParam(topic: unknown): string {
  if (!isTopic(topic)) throw new ValidationError('invalid topic', [{ index: null, field: 'topic', message: TOPIC_RULE }]);
  return topic;
}

export function topicsRoutes({ sql, config, maintain }: TopicsDeps) {
  return new Elysia({ name: 'topics' })
    .get(
      '/topics',
      async () => ({
        retention: formatDuration(config.retentionMs),
        dedup_window: formatDuration(config.dedupWindowMs),
        topics: (await readTopicStorage(sql)).map((topic) => render(topic, config)),
      }),
      {
        detail: {
          summary: 'Topics with their storage and retention',
          responses: { 200: { description: 'Every topic', content: jsonContent(TopicsList) } },
        },
      },
    )
    .put(
      '/topics/:topic',
      async ({ params, request }) => {
        const topic = topicParam(params.topic);
        const retentionSeconds = await parseRetention(request, config);
        await setTopicRetention(sql, topic, retentionSeconds);
        await maintain();
        return render((await readTopicStorage(sql, topic))[0]!, config);
      },
      {
        parse: 'none',
        detail: {
          summary: "Set a topic's retention",
          description:
            'Body `{"retention": "3d"}` (or `null` for the global RETENTION), at most DEDUP_WINDOW. Applies to events applied from now on; events already stored keep their deadline.',
          requestBody: { required: true, content: jsonContent(RetentionBody) },
          responses: {
            200: { description: 'The topic with its new retention', content: jsonContent(TopicInfo) },
            400: { description: 'Invalid topic or retention', content: jsonContent(ErrorBody) },
          },
        },
      },
    )
    .delete(
      '/topics/:topic',
      async ({ params }) => {
        const topic = topicParam(params.topic);
        const result = await deleteTopic(sql, topic);
        if (result === null) throw new NotFound(`no topic ${topic}`);
        const window = formatDuration(config.dedupWindowMs);
        return {
          topic,
          deleted: result.deleted,
          dedup_keys: `kept until the dedup window (DEDUP_WINDOW=${window}) passes: an event_id of this topic published again within ${window} is still dropped as a duplicate`,
        };
      },
      {
        parse: 'none',
        detail: {
          summary: 'Delete a topic and its stored events',
          description:
            "Removes the topic's stored events and its retention override at once; /stats counts them in `deleted`. The (topic, event_id) dedup keys are kept until DEDUP_WINDOW passes, so a retry of an event acknowledged before the delete cannot bring it back; new event ids are stored as usual. Events still pending (accepted, not yet applied) are stored after the delete and start the topic again; open subscriptions stay open and see them.",
          responses: {
            200: { description: 'The topic is gone', content: jsonContent(TopicDeleted) },
            400: { description: 'Invalid topic', content: jsonContent(ErrorBody) },
            404: { description: 'No such topic', content: jsonContent(ErrorBody) },
          },
        },
      },
    );
}
