CREATE TABLE "inbox_parked" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"part" smallint NOT NULL,
	"inbox_id" bigint NOT NULL,
	"topic" text NOT NULL,
	"event_id" text NOT NULL,
	"timestamp" timestamp (6) with time zone NOT NULL,
	"source" text NOT NULL,
	"payload" json NOT NULL,
	"error" text NOT NULL,
	"parked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Rows already waiting get their payload bytes computed in place, so claims can size by bytes.
ALTER TABLE "inbox" ADD COLUMN "bytes" integer;
--> statement-breakpoint
UPDATE "inbox" AS i
SET "bytes" = (SELECT coalesce(sum(octet_length(p::text)), 0) FROM unnest(i."payloads") AS p);
--> statement-breakpoint
ALTER TABLE "inbox" ALTER COLUMN "bytes" SET NOT NULL;