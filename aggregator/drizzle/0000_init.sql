CREATE SEQUENCE "public"."events_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "counters" (
	"shard" smallint PRIMARY KEY NOT NULL,
	"received" bigint DEFAULT 0 NOT NULL,
	"unique_processed" bigint DEFAULT 0 NOT NULL,
	"duplicate_dropped" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"topic" text NOT NULL,
	"seq" bigint DEFAULT nextval('events_seq') NOT NULL,
	"event_id" text NOT NULL,
	"timestamp" timestamp (6) with time zone NOT NULL,
	"source" text NOT NULL,
	"payload" jsonb NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_pkey" PRIMARY KEY("topic","seq"),
	CONSTRAINT "events_topic_event_id_key" UNIQUE("topic","event_id")
);
--> statement-breakpoint
CREATE TABLE "inbox" (
	"part" smallint NOT NULL,
	"id" bigserial NOT NULL,
	"n" integer NOT NULL,
	"events" json NOT NULL,
	"accepted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inbox_pkey" PRIMARY KEY("part","id")
);
--> statement-breakpoint
CREATE TABLE "inbox_partitions" (
	"part" smallint PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE "topics" (
	"name" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
