-- One busy topic applied by every partition's worker at once (docs/ARCHITECTURE.md "Seq at
-- acknowledgement" and "The read horizon"): inbox rows are routed by key (topic, event_id)
-- instead of by topic, and each event's seq is drawn at ingest and kept in the inbox row.
-- Custom SQL: drizzle cannot express the view, the function or the move of waiting rows.
--
-- Replicas of an older build cannot run next to this layout, and stop touching it at once:
-- their enqueue no longer satisfies the inbox (no id default, seqs required), so it fails and
-- clients retry elsewhere; the lease table is renamed and an empty view keeps the old name, so
-- their workers lease nothing, and their periodic layout check (30 s) finds 0 partitions and
-- stops them.
LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE;
--> statement-breakpoint
ALTER TABLE inbox_partitions RENAME TO inbox_leases;
--> statement-breakpoint
ALTER TABLE inbox_leases RENAME CONSTRAINT inbox_partitions_pkey TO inbox_leases_pkey;
--> statement-breakpoint
CREATE VIEW inbox_partitions AS SELECT part FROM inbox_leases WHERE false;
--> statement-breakpoint
COMMENT ON VIEW inbox_partitions IS 'Empty on purpose: stops replicas built before migration 0008 (see 0008_routing_by_key.sql).';
--> statement-breakpoint
-- db/partition.ts partitionOf in SQL: 32-bit FNV-1a over UTF-8 topic, a zero byte, UTF-8
-- event_id, modulo 32. Used here to move waiting rows; a test keeps the two equal.
CREATE FUNCTION inbox_partition_of(topic text, event_id text) RETURNS smallint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  bytes bytea := convert_to(topic, 'UTF8') || '\x00'::bytea || convert_to(event_id, 'UTF8');
  hash bigint := 2166136261;
BEGIN
  FOR i IN 0 .. length(bytes) - 1 LOOP
    hash := ((hash # get_byte(bytes, i)) * 16777619) & 4294967295;
  END LOOP;
  RETURN hash % 32;
END $$;
--> statement-breakpoint
ALTER TABLE inbox ADD COLUMN seqs bigint[];
--> statement-breakpoint
-- Waiting events move to their key's partition and get their seq now, in the order they were
-- acknowledged (old id, position); a row's id becomes its first seq.
WITH moved AS (
  DELETE FROM inbox
  RETURNING id, topics, event_ids, timestamps, sources, payloads, accepted_at
),
items AS (
  SELECT m.id, m.accepted_at, e.*, inbox_partition_of(e.topic, e.event_id) AS new_part
  FROM moved AS m,
    unnest(m.topics, m.event_ids, m.timestamps, m.sources, m.payloads)
      WITH ORDINALITY AS e(topic, event_id, "timestamp", source, payload, ord)
),
numbered AS MATERIALIZED (
  -- nextval is volatile, so it is computed after the sort: in (id, ord) order.
  SELECT items.*, nextval('events_seq') AS seq FROM items ORDER BY id, ord
)
INSERT INTO inbox (part, id, n, bytes, topics, event_ids, timestamps, sources, payloads, seqs, accepted_at)
SELECT new_part, min(seq), count(*), sum(octet_length(payload::text)),
  array_agg(topic ORDER BY ord), array_agg(event_id ORDER BY ord), array_agg("timestamp" ORDER BY ord),
  array_agg(source ORDER BY ord), array_agg(payload ORDER BY ord), array_agg(seq ORDER BY ord), min(accepted_at)
FROM numbered
GROUP BY new_part, id;
--> statement-breakpoint
ALTER TABLE inbox ALTER COLUMN seqs SET NOT NULL;
--> statement-breakpoint
ALTER TABLE inbox ALTER COLUMN id DROP DEFAULT;
--> statement-breakpoint
DROP SEQUENCE inbox_id_seq;
--> statement-breakpoint
UPDATE inbox_parked SET part = inbox_partition_of(topic, event_id);
--> statement-breakpoint
-- Seqs come from ingest only (the read horizon relies on how it draws them).
ALTER TABLE events ALTER COLUMN seq DROP DEFAULT;
