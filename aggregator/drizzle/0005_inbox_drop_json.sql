ALTER TABLE "inbox" DROP COLUMN "events";
