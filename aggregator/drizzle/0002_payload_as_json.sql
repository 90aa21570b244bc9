-- Payloads are stored as validated JSON text: returned byte for byte (key order included), and
-- neither the apply nor the page read pays for a jsonb conversion.
ALTER TABLE "events" ALTER COLUMN "payload" SET DATA TYPE json USING "payload"::json;
