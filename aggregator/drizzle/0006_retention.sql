-- Retention (docs/ARCHITECTURE.md "Storage layout"). Custom SQL: drizzle cannot express
-- partitioned tables, and the events stored so far move into the new layout with their keys.
ALTER TABLE "topics" ADD COLUMN "retention_seconds" bigint;
--> statement-breakpoint
ALTER TABLE "topics" ADD COLUMN "expired" bigint DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "topics" ADD COLUMN "expired_through" bigint DEFAULT 0 NOT NULL;
--> statement-breakpoint
ALTER TABLE "events" RENAME TO "events_legacy";
--> statement-breakpoint
-- Partitioned by the deadline, so expiry is DROP of whole partitions (retention/partitions.ts
-- creates them ahead of time). No unique constraint: identity lives in event_keys.
CREATE TABLE "events" (
  "topic" text COLLATE "C" NOT NULL,
  "seq" bigint DEFAULT nextval('events_seq') NOT NULL,
  "event_id" text COLLATE "C" NOT NULL,
  "timestamp" timestamp (6) with time zone NOT NULL,
  "source" text NOT NULL,
  "payload" json NOT NULL,
  "processed_at" timestamp with time zone DEFAULT now() NOT NULL,
  "expires_at" timestamp with time zone NOT NULL
) PARTITION BY RANGE ("expires_at");
--> statement-breakpoint
CREATE INDEX "events_topic_seq_idx" ON "events" ("topic", "seq");
--> statement-breakpoint
-- Keys in generations: only the newest takes inserts (its unique index arbitrates), older ones
-- are immutable and probed; a generation is dropped whole after the dedup window.
CREATE TABLE "event_keys" (
  "topic" text COLLATE "C" NOT NULL,
  "event_id" text COLLATE "C" NOT NULL,
  "gen" integer NOT NULL,
  CONSTRAINT "event_keys_topic_event_id_gen_key" UNIQUE ("topic", "event_id", "gen")
) PARTITION BY LIST ("gen");
--> statement-breakpoint
CREATE TABLE "key_generations" (
  "gen" integer PRIMARY KEY NOT NULL,
  "started_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "event_partitions" (
  "name" text PRIMARY KEY NOT NULL,
  "lower" timestamp with time zone NOT NULL,
  "upper" timestamp with time zone NOT NULL
);
--> statement-breakpoint
-- Generation 0 holds the key of every event stored so far. Filled before its unique index
-- exists (one sorted build instead of a million index inserts), then attached.
CREATE TABLE "event_keys_g0" (LIKE "event_keys");
--> statement-breakpoint
INSERT INTO "event_keys_g0" ("topic", "event_id", "gen") SELECT "topic", "event_id", 0 FROM "events_legacy";
--> statement-breakpoint
ALTER TABLE "event_keys" ATTACH PARTITION "event_keys_g0" FOR VALUES IN (0);
--> statement-breakpoint
INSERT INTO "key_generations" ("gen") VALUES (0);
--> statement-breakpoint
-- The events stored so far become one partition with a single deadline: 7 days after the
-- upgrade (the default RETENTION; a migration cannot read the configuration). ADD COLUMN with a
-- constant default rewrites nothing; the dedup constraints go, their job is event_keys' now.
DO $$
DECLARE
  deadline timestamptz := date_trunc('second', now()) + interval '7 days';
BEGIN
  IF NOT EXISTS (SELECT 1 FROM events_legacy) THEN
    DROP TABLE events_legacy;
    RETURN;
  END IF;
  ALTER TABLE events_legacy DROP CONSTRAINT events_topic_event_id_key;
  ALTER TABLE events_legacy DROP CONSTRAINT events_pkey;
  EXECUTE format('ALTER TABLE events_legacy ADD COLUMN expires_at timestamptz NOT NULL DEFAULT %L', deadline);
  ALTER TABLE events_legacy ALTER COLUMN expires_at DROP DEFAULT;
  EXECUTE format('ALTER TABLE events ATTACH PARTITION events_legacy FOR VALUES FROM (%L) TO (%L)', deadline, deadline + interval '1 second');
  INSERT INTO event_partitions (name, lower, upper) VALUES ('events_legacy', deadline, deadline + interval '1 second');
END $$;
