-- The inbox keeps events column by column (arrays) instead of as one JSON document, so the apply
-- unnests instead of parsing. Rows already waiting are converted in place, in their order.
ALTER TABLE "inbox"
  ADD COLUMN "topics" text[],
  ADD COLUMN "event_ids" text[],
  ADD COLUMN "timestamps" timestamp (6) with time zone[],
  ADD COLUMN "sources" text[],
  ADD COLUMN "payloads" json[];
--> statement-breakpoint
UPDATE "inbox" AS i
SET ("topics", "event_ids", "timestamps", "sources", "payloads") = (
  SELECT array_agg(e.topic ORDER BY e.ord), array_agg(e.event_id ORDER BY e.ord),
         array_agg(e."timestamp" ORDER BY e.ord), array_agg(e.source ORDER BY e.ord),
         array_agg(e.payload ORDER BY e.ord)
  FROM ROWS FROM (
    json_to_recordset(i.events) AS (topic text, event_id text, "timestamp" timestamptz, source text, payload json)
  ) WITH ORDINALITY AS e(topic, event_id, "timestamp", source, payload, ord)
);
--> statement-breakpoint
ALTER TABLE "inbox"
  ALTER COLUMN "topics" SET NOT NULL,
  ALTER COLUMN "event_ids" SET NOT NULL,
  ALTER COLUMN "timestamps" SET NOT NULL,
  ALTER COLUMN "sources" SET NOT NULL,
  ALTER COLUMN "payloads" SET NOT NULL;
