-- DELETE /topics/{topic} (retention/topics.ts deleteTopic): the topic's row goes with its
-- events, so what it counted moves here to keep /stats exact: stored events always number
-- unique_processed - expired - deleted. `expired`: what retention had removed from topics
-- since deleted; `deleted`: the events a DELETE removed. Kept on shard 0.
ALTER TABLE "counters" ADD COLUMN "expired" bigint DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "counters" ADD COLUMN "deleted" bigint DEFAULT 0 NOT NULL;
