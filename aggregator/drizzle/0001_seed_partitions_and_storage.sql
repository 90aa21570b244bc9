-- Lease rows for the 32 inbox partitions (PARTITION_COUNT in src/db/schema.ts).
INSERT INTO inbox_partitions (part) SELECT generate_series(0, 31) ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- Counter shards: 0..63 are written by /publish, 64..95 by the worker holding partition shard-64.
INSERT INTO counters (shard) SELECT generate_series(0, 95) ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- Counters are updated in place constantly: leave room on each page for HOT updates.
ALTER TABLE counters SET (fillfactor = 20);
--> statement-breakpoint
-- The inbox is a queue: rows are inserted, then deleted within milliseconds. Vacuum it as soon as
-- dead rows pile up instead of waiting for 20% of the table, so claims never wade through them.
ALTER TABLE inbox SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 10000,
  autovacuum_vacuum_cost_delay = 0
);
