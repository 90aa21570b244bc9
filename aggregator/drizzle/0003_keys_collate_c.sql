ALTER TABLE "events" ALTER COLUMN "topic" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "events" ALTER COLUMN "event_id" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "topics" ALTER COLUMN "name" SET DATA TYPE text COLLATE "C";