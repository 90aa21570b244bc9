-- The Loki query API (src/query/, docs/QUERY.md) reads events by time: the newest lines of a
-- topic in a range, and metric windows over a range. Hand-written: drizzle cannot express BRIN.
--
-- (topic, "timestamp"): a selector naming a topic reads its range newest first from this index
-- and stops at the limit. BRIN on "timestamp": a selector without a topic still skips the
-- blocks outside its range; events arrive roughly in time order, so the ranges are tight, and a
-- BRIN index costs ingest almost nothing (one summary per 128 pages, updated by autovacuum).
-- Both are created on the partitioned table: every partition, and every partition retention
-- attaches later, gets them.
CREATE INDEX events_topic_timestamp_idx ON events (topic, "timestamp");
--> statement-breakpoint
CREATE INDEX events_timestamp_brin ON events USING brin ("timestamp");
