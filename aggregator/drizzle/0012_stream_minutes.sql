-- Per-minute event counts of each stream's topic, source and level (src/query/volume-rollup.ts,
-- docs/QUERY.md "The log volume from rollups"): Grafana's log volume query reads these instead of
-- every payload of its range. Hand-written: drizzle cannot express the functions.
--
-- Written outside the apply: retention maintenance folds the events below the read horizon into
-- these counts every few seconds (retention/stream-minutes.ts), in seq order, and moves
-- `stream_minutes_folded.through` in the same statement. Every event with a seq at or below
-- `through` is counted exactly once; a volume query adds the events above it (seq > through,
-- below its own horizon) read live, so its counts are exact whatever the fold's lag. The apply
-- pays nothing: an events trigger doing the same per statement cost ingest 0.76-0.90x (branch loki2).
-- Below the horizon nothing can appear any more (events/horizon.ts), so no event of a folded seq
-- range arrives after the fold. A partition's rows are dropped with it (`expires_lower` is its
-- lower bound; retention/expire.ts), a topic's with its DELETE.
--
-- `shape` and `levels` are what decides the stream's level, not the label itself: the process
-- derives the labels from them with the same code that reads events (query/entry.ts), so the
-- two paths cannot disagree on how a level is spelled. `minute` is the end of the bucket in
-- Unix minutes: it holds the events with (minute - 1) * 60 s < time <= minute * 60 s (Loki's
-- windows include their end). `bytes` is the sum of the lines' UTF-8 bytes, NULL when a line's
-- length is not known in SQL (an OTLP body that is not a string). Shape 'unreadable': a payload
-- jsonb cannot read (\u0000, a lone surrogate) or a Loki time beyond int8; queries over it fall
-- back to reading the events.
CREATE TABLE stream_minutes (
  topic text COLLATE "C" NOT NULL,
  minute bigint NOT NULL,
  source text NOT NULL,
  shape text NOT NULL,
  levels text NOT NULL,
  expires_lower timestamptz NOT NULL,
  events bigint NOT NULL,
  bytes bigint,
  CONSTRAINT stream_minutes_pkey PRIMARY KEY (topic, minute, source, shape, levels, expires_lower)
);
--> statement-breakpoint
-- One row: the seq through which every stored event is counted in stream_minutes. 0 at first:
-- the events stored before this migration are folded by the first maintenance ticks.
CREATE TABLE stream_minutes_folded (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  through bigint NOT NULL
);
--> statement-breakpoint
INSERT INTO stream_minutes_folded (through) VALUES (0);
--> statement-breakpoint
-- The stream facts of one stored event, as query/entry.ts toEntry reads the payload: its shape,
-- what decides its level (JSON text), its minute and its line's bytes. A payload is parsed at
-- most once; the shape tests use key sets and jsonpath, not subqueries, to stay cheap per event.
-- Any payload; logbus_stream_of below calls it only for those that may be a shipper's.
CREATE TYPE logbus_stream_facts AS (shape text, levels text, minute bigint, line_bytes bigint);
--> statement-breakpoint
CREATE FUNCTION logbus_stream_of_any(payload json, stored timestamptz) RETURNS logbus_stream_facts
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  shape text;
  levels text;
  minute bigint;
  line_bytes bigint;
  t text := payload::text;
  j jsonb;
  ns numeric := floor(extract(epoch FROM stored) * 1000000) * 1000;
BEGIN
  line_bytes := octet_length(t);
  IF left(t, 1) <> '{' THEN
    shape := 'plain';
    levels := 'null';
  ELSIF strpos(t, '\u') = 0 AND strpos(t, '"time_unix_nano"') = 0 AND strpos(t, '"body"') = 0 AND strpos(t, '"resource"') = 0
    AND strpos(t, '"severity_number"') = 0 AND strpos(t, '"@timestamp"') = 0 THEN
    -- Without an escape, a key is spelled out in the text: none of the shipper shapes' keys, so a
    -- /publish payload (the common case), read without converting it to jsonb.
    shape := 'plain';
    levels := CASE WHEN strpos(t, '"level"') = 0 THEN 'null' ELSE coalesce((payload->'level')::text, 'null') END;
  ELSIF t ~* '\\u(0000|d[89a-f])' THEN
    shape := 'unreadable';
    levels := '';
  ELSE
    j := t::jsonb;
    IF jsonb_typeof(j->'line') = 'string' AND jsonb_typeof(j->'labels') = 'object' AND jsonb_typeof(j->'time_unix_nano') = 'string'
      AND (j - ARRAY['line', 'labels', 'time_unix_nano', 'structured_metadata']) = '{}'::jsonb
      AND NOT jsonb_path_exists(j->'labels', '$.* ? (@.type() != "string")') THEN
      shape := 'loki';
      levels := jsonb_strip_nulls(jsonb_build_object('level', j->'labels'->'level', 'severity', j->'labels'->'severity',
        'detected_level', j->'labels'->'detected_level'))::text;
      line_bytes := octet_length(j->>'line');
      IF j->>'time_unix_nano' ~ '^[0-9]{1,19}$' AND (j->>'time_unix_nano')::numeric <= 9223372036854775807 THEN
        ns := (j->>'time_unix_nano')::numeric;
      ELSE
        shape := 'unreadable';
        levels := '';
      END IF;
    ELSIF (j ? 'body' OR j ? 'resource' OR j ? 'severity_number')
      AND (j - ARRAY['body', 'severity_text', 'severity_number', 'event_name', 'attributes', 'trace_id', 'span_id', 'flags',
        'time_unix_nano', 'observed_time_unix_nano', 'dropped_attributes_count', 'resource', 'scope']) = '{}'::jsonb THEN
      shape := 'otlp';
      -- Resource attributes become labels by their sanitised names, the last of two alike
      -- winning in document order: only those that can become level or detected_level matter.
      levels := jsonb_build_object('severity_text', j->'severity_text', 'severity_number', j->'severity_number', 'resource',
        CASE WHEN jsonb_typeof(j->'resource') = 'object' AND (j->'resource')::text LIKE '%level%' THEN
          (SELECT jsonb_agg(jsonb_build_array(r.key, r.value) ORDER BY r.n)
           FROM json_each(payload->'resource') WITH ORDINALITY AS r(key, value, n)
           WHERE regexp_replace(r.key, '[^A-Za-z0-9_]', '_', 'g') IN ('level', 'detected_level')) END)::text;
      line_bytes := CASE jsonb_typeof(j->'body') WHEN 'string' THEN octet_length(j->>'body') WHEN 'null' THEN 4 END;
      IF NOT j ? 'body' THEN line_bytes := 0; END IF;
    ELSIF jsonb_typeof(j->'message') = 'string' AND j ? '@timestamp' THEN
      shape := 'elastic';
      -- JavaScript's ?? skips absent keys and JSON null alike.
      levels := coalesce(coalesce(
        nullif(CASE WHEN jsonb_typeof(j->'log') = 'object' THEN j->'log'->'level' END, 'null'::jsonb),
        nullif(j->'log.level', 'null'::jsonb), j->'level'), 'null'::jsonb)::text;
      line_bytes := octet_length(j->>'message');
    ELSE
      shape := 'plain';
      levels := coalesce(j->'level', 'null'::jsonb)::text;
    END IF;
  END IF;
  -- ceil(ns / 60 s) in integers (numeric division keeps too few digits for one nanosecond).
  minute := CASE WHEN ns >= 0 THEN div(ns + 59999999999, 60000000000) ELSE -div(-ns, 60000000000) END;
  RETURN ROW(shape, levels, minute, line_bytes)::logbus_stream_facts;
END $$;
--> statement-breakpoint
-- The same facts; a /publish payload (text without an escape that names none of the shipper
-- shapes' keys) is read here in plain SQL, which PostgreSQL inlines into the calling statement:
-- a plpgsql call per event cost more than the rest of the counting (17 against 10 µs an event on
-- the loaded 2-core machine). Everything else goes to logbus_stream_of_any.
CREATE FUNCTION logbus_stream_of(payload json, stored timestamptz)
RETURNS TABLE (shape text, levels text, minute bigint, line_bytes bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT
    CASE WHEN x.plain THEN 'plain' ELSE (x.s).shape END,
    CASE WHEN NOT x.plain THEN (x.s).levels WHEN left(x.t, 1) <> '{' OR strpos(x.t, '"level"') = 0 THEN 'null'
      ELSE coalesce((payload->'level')::text, 'null') END,
    CASE WHEN NOT x.plain THEN (x.s).minute WHEN x.ns >= 0 THEN div(x.ns + 59999999999, 60000000000)::bigint
      ELSE -div(-x.ns, 60000000000)::bigint END,
    CASE WHEN x.plain THEN octet_length(x.t)::bigint ELSE (x.s).line_bytes END
  FROM (
    -- OFFSET 0: each value once per event, not once per use.
    SELECT y.t, y.ns, y.plain, CASE WHEN NOT y.plain THEN logbus_stream_of_any(payload, stored) END AS s
    FROM (
      SELECT t, floor(extract(epoch FROM stored) * 1000000) * 1000 AS ns,
        left(t, 1) <> '{' OR (strpos(t, '\u') = 0 AND strpos(t, '"time_unix_nano"') = 0 AND strpos(t, '"body"') = 0
          AND strpos(t, '"resource"') = 0 AND strpos(t, '"severity_number"') = 0 AND strpos(t, '"@timestamp"') = 0) AS plain
      FROM (SELECT payload::text AS t OFFSET 0) AS p
      OFFSET 0
    ) AS y
    OFFSET 0
  ) AS x
$$;
