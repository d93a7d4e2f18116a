--
-- Kinesis-style shard iterators: get_shard_iterator, get_records,
-- seq_at_time; forged and expired iterators.
--
\set VERBOSITY terse
SELECT topics.create_topic('si', 2);
-- records with known timestamps, one per minute, in partition 0
INSERT INTO si (partition, key, value, ts)
SELECT 0, 'k' || g, convert_to('v' || g, 'UTF8'), '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute'
FROM generate_series(0, 9) g;

-- every iterator type, case-insensitive
SELECT (records[1]).seq AS first, cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'));
SELECT (records[1]).seq AS first, cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'trim_horizon'), 3);
SELECT cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'LATEST'));
SELECT (records[1]).seq AS first, cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER', 4));
SELECT (records[1]).seq AS first, cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'After_Sequence_Number', 4));
SELECT (records[1]).seq AS first
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'AT_TIMESTAMP', at => '2026-01-01 00:03:30+00'));
SELECT cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'AT_TIMESTAMP', at => '2030-01-01'));
-- AT_SEQUENCE_NUMBER at the end is allowed (nothing yet), past it is not
SELECT cardinality(records) AS n
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER', 10));

-- exactly one row; records in order with all columns
SELECT count(*) FROM topics.get_records(topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'), 2);
SELECT r.partition, r.seq, r.ts, r.key, convert_from(r.value, 'UTF8') AS value, r.headers
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'), 3) g,
     unnest(g.records) r;

-- chaining next_shard_iterator walks the partition with no gap or duplicate
WITH RECURSIVE walk(it, seqs, step) AS (
    SELECT topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'), ARRAY[]::bigint[], 0
  UNION ALL
    SELECT g.next_shard_iterator, w.seqs || ARRAY(SELECT (x).seq FROM unnest(g.records) x), w.step + 1
    FROM walk w, topics.get_records(w.it, 3) g
    WHERE w.step < 5
)
SELECT step, seqs FROM walk ORDER BY step;
-- with nothing new, the next iterator stays where it was
SELECT (SELECT cardinality(records) FROM topics.get_records(g.next_shard_iterator)) AS again
FROM topics.get_records(topics.get_shard_iterator('si', 0, 'LATEST')) g;

-- millis_behind_latest: how far the last returned record is behind the newest
SELECT millis_behind_latest FROM topics.get_records(topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'), 1);
SELECT millis_behind_latest FROM topics.get_records(topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER', 8), 1);
SELECT millis_behind_latest FROM topics.get_records(topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'));
SELECT millis_behind_latest FROM topics.get_records(topics.get_shard_iterator('si', 0, 'LATEST'));

-- seq_at_time: first seq with ts >= at
SELECT topics.seq_at_time('si', 0, '2025-01-01') AS before_first,
       topics.seq_at_time('si', 0, '2026-01-01 00:00:00+00') AS at_first,
       topics.seq_at_time('si', 0, '2026-01-01 00:05:00+00') AS exact,
       topics.seq_at_time('si', 0, '2026-01-01 00:05:01+00') AS between,
       topics.seq_at_time('si', 0, '2027-01-01') AS after_last,
       topics.seq_at_time('si', 1, '2026-01-01') AS empty_partition;

-- errors
SELECT topics.get_shard_iterator('si', 0, 'SIDEWAYS');
SELECT topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER');
SELECT topics.get_shard_iterator('si', 0, 'AFTER_SEQUENCE_NUMBER');
SELECT topics.get_shard_iterator('si', 0, 'AT_TIMESTAMP');
SELECT topics.get_shard_iterator('si', 0, 'TRIM_HORIZON', 3);
SELECT topics.get_shard_iterator('si', 0, 'LATEST', at => now());
SELECT topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER', -1);
SELECT topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER', 11);
SELECT topics.get_shard_iterator('si', 2, 'LATEST');
SELECT topics.get_shard_iterator('si', -1, 'LATEST');
SELECT topics.get_shard_iterator(NULL, 0, 'LATEST');
SELECT topics.get_shard_iterator('si', NULL, 'LATEST');
SELECT topics.get_shard_iterator('si', 0, NULL);
SELECT topics.get_shard_iterator('no_such', 0, 'LATEST');
SELECT topics.get_shard_iterator('pg_class', 0, 'LATEST');
SELECT * FROM topics.get_records(NULL);
SELECT * FROM topics.get_records(topics.get_shard_iterator('si', 0, 'LATEST'), 0);
SELECT * FROM topics.get_records(topics.get_shard_iterator('si', 0, 'LATEST'), 10, '-1 s');
SELECT topics.seq_at_time('si', 0, NULL);
SELECT topics.seq_at_time('si', 5, now());

-- forged iterators are rejected
SELECT * FROM topics.get_records('not an iterator');
SELECT * FROM topics.get_records('');
SELECT * FROM topics.get_records(encode(convert_to(repeat('x', 80), 'UTF8'), 'base64'));
-- change one character of a real iterator
SELECT topics.get_shard_iterator('si', 0, 'TRIM_HORIZON') AS it \gset
SELECT length(:'it') > 40 AS opaque;
SELECT * FROM topics.get_records(
    overlay(:'it' placing CASE WHEN substr(:'it', 20, 1) = 'A' THEN 'B' ELSE 'A' END from 20 for 1));
SELECT * FROM topics.get_records(substr(:'it', 1, length(:'it') - 4));
-- an iterator of a dropped topic
SELECT topics.create_topic('si_gone', 1);
SELECT topics.get_shard_iterator('si_gone', 0, 'TRIM_HORIZON') AS gone_it \gset
DROP TABLE si_gone;
SELECT * FROM topics.get_records(:'gone_it');

-- expired iterators are rejected (a TTL of 0 expires them at once)
SET pg_topics.shard_iterator_ttl = 0;
SELECT * FROM topics.get_records(topics.get_shard_iterator('si', 0, 'TRIM_HORIZON'));
-- the error says where an expired iterator stood, and the hint renews it
-- (the expiry time in the detail varies, so it is masked)
SELECT set_config('pgt.old_it', topics.get_shard_iterator('si', 0, 'AT_SEQUENCE_NUMBER', 3), false) IS NOT NULL AS issued;
DO $$
DECLARE
	d text;
	h text;
BEGIN
	PERFORM topics.get_records(current_setting('pgt.old_it'));
EXCEPTION WHEN SQLSTATE '22T02' THEN    -- expired (since 0.14; 22023 before)
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RAISE NOTICE 'detail: %', regexp_replace(d, 'expired at [^;]*;', 'expired at <time>;');
	RAISE NOTICE 'hint: %', h;
END
$$;
CREATE SCHEMA "si Schema";
SELECT topics.create_topic('"si Schema"."it''s"', 1);
SELECT set_config('pgt.odd_it', topics.get_shard_iterator('"si Schema"."it''s"', 0, 'LATEST'), false) IS NOT NULL AS issued;
DO $$
DECLARE
	h text;
BEGIN
	PERFORM topics.get_records(current_setting('pgt.odd_it'));
EXCEPTION WHEN SQLSTATE '22T02' THEN    -- expired (since 0.14; 22023 before)
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RAISE NOTICE 'hint: %', h;
	PERFORM set_config('pgt.odd_hint', h, false);
END
$$;
-- the call in the hint works as given
INSERT INTO "si Schema"."it's" (partition, key, value) VALUES (0, 'k', '\x01');
RESET pg_topics.shard_iterator_ttl;
DO $$
DECLARE
	it text;
	n int;
BEGIN
	EXECUTE 'SELECT ' || substring(current_setting('pgt.odd_hint') FROM 'topics\.get_shard_iterator\(.*\)') INTO it;
	SELECT cardinality(records) INTO n FROM topics.get_records(it);
	RAISE NOTICE 'records after renewing: %', n;
END
$$;
SET pg_topics.shard_iterator_ttl = 0;
DROP SCHEMA "si Schema" CASCADE;
DO $$
DECLARE
	d text;
BEGIN
	PERFORM topics.get_records(current_setting('pgt.odd_it'));
EXCEPTION WHEN SQLSTATE '22T02' THEN    -- expired (since 0.14; 22023 before)
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RAISE NOTICE 'detail: %', regexp_replace(d, 'expired at .*, and', 'expired at <time>, and');
END
$$;
RESET pg_topics.shard_iterator_ttl;
SELECT cardinality(records) FROM topics.get_records(:'it', 1);

-- reading needs SELECT on the topic
CREATE ROLE si_nobody;
SET ROLE si_nobody;
SELECT topics.get_shard_iterator('si', 0, 'LATEST');
SELECT * FROM topics.get_records(:'it');
SELECT topics.seq_at_time('si', 0, now());
-- nor does an expired iterator tell it where it stood (since 0.17)
DO $$
DECLARE
	d text;
BEGIN
	PERFORM topics.get_records(current_setting('pgt.old_it'));
EXCEPTION WHEN SQLSTATE '22T02' THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RAISE NOTICE 'detail: %', regexp_replace(d, 'expired at .*\.', 'expired at <time>.');
END
$$;
RESET ROLE;
DROP ROLE si_nobody;
DROP TABLE si;

-- like Kinesis, a call returns up to 10 MB of keys, values and headers (the
-- first record always comes), and the iterator goes on after the last one;
-- before, large records built an array past PostgreSQL's 1 GB limit and
-- the call failed every time
SELECT topics.create_topic('si_big', 1);
INSERT INTO si_big (key, value)
SELECT 'k' || g, convert_to(repeat('x', 1000000), 'UTF8') FROM generate_series(1, 11) g;
SELECT get_shard_iterator AS it FROM topics.get_shard_iterator('si_big', 0, 'TRIM_HORIZON') \gset
SELECT cardinality(records), (SELECT sum(length((r).value)) FROM unnest(records) r) AS bytes,
       next_shard_iterator AS it
FROM topics.get_records(:'it', 100) \gset
SELECT :cardinality AS records, :bytes AS bytes;
SELECT cardinality(records), (records[1]).key FROM topics.get_records(:'it', 100);
DROP TABLE si_big;

-- A time lookup after retention removed records whose producer-given
-- timestamps were later than those kept: until 0.9 it started over from
-- the head at every page of the walk (a check meant for the page the
-- directory gives) and never ended; statement_timeout stops it here.
SELECT topics.create_topic('si_tsloop', 1);
INSERT INTO si_tsloop (key, value)
SELECT 'now', convert_to(repeat('n', 1900), 'UTF8') FROM generate_series(1, 4);
INSERT INTO si_tsloop (key, value, ts)
SELECT 'old', convert_to(repeat('o', 1900), 'UTF8'), '2020-01-01' FROM generate_series(1, 8);
SELECT topics.alter_topic('si_tsloop', retention_bytes => 8192);
SELECT pages_removed, log_start_seq FROM topics.maintain('si_tsloop');
INSERT INTO si_tsloop (key, value, ts) VALUES ('old', convert_to(repeat('o', 1900), 'UTF8'), '2020-01-01');
SET statement_timeout = '20s';
SELECT topics.seq_at_time('si_tsloop', 0, '2020-06-01') AS none_later;
SELECT topics.seq_at_time('si_tsloop', 0, '2019-06-01') AS log_start;
SELECT cardinality(records) FROM topics.get_records(
    topics.get_shard_iterator('si_tsloop', 0, 'AT_TIMESTAMP', at => '2020-06-01'));
SELECT count(*) FROM si_tsloop WHERE partition = 0 AND ts >= '2020-06-01';
RESET statement_timeout;
DROP TABLE si_tsloop;

-- A record of an aborted transaction does not count for a time lookup,
-- VACUUMed or not: until 2026-12-02 it counted until VACUUM marked it dead,
-- and an AT_TIMESTAMP iterator began at it, with the records after it that
-- producers stamped before "at" (c here)
SELECT topics.create_topic('si_aborted', 1);
INSERT INTO si_aborted (key, value, ts) VALUES ('a', 'x', '2026-01-01 00:00+00');
BEGIN;
INSERT INTO si_aborted (key, value, ts) VALUES ('b', 'x', '2026-01-01 00:10+00');
ROLLBACK;
INSERT INTO si_aborted (key, value, ts)
VALUES ('c', 'x', '2026-01-01 00:01+00'), ('d', 'x', '2026-01-01 00:20+00');
SELECT topics.seq_at_time('si_aborted', 0, '2026-01-01 00:05+00') AS first_at_or_after,
       topics.seq_at_time('si_aborted', 0, '2026-01-01 00:10+00') AS at_the_aborted_ts;
SELECT array_agg(r.key ORDER BY r.seq) AS from_iterator
FROM topics.get_records(topics.get_shard_iterator('si_aborted', 0, 'AT_TIMESTAMP',
                                                  at => '2026-01-01 00:05+00')) g,
     unnest(g.records) r;
SELECT key FROM si_aborted WHERE partition = 0 AND ts >= '2026-01-01 00:05+00' ORDER BY seq;
VACUUM si_aborted;
SELECT topics.seq_at_time('si_aborted', 0, '2026-01-01 00:05+00') AS after_vacuum;
DROP TABLE si_aborted;

-- millis_behind_latest is at least 1 while records readable now remain
-- (since 0.10): the records of one batch share a ts, and 0 told a Kinesis
-- client it had caught up with records left
SELECT topics.create_topic('si_behind', 1);
SELECT count(*) FROM topics.produce_batch('si_behind', ARRAY['a', 'b', 'c', 'd', 'e'], ARRAY['1', '2', '3', '4', '5']);
SELECT cardinality(records), millis_behind_latest
FROM topics.get_records(topics.get_shard_iterator('si_behind', 0, 'TRIM_HORIZON'), 2);
SELECT cardinality(records), millis_behind_latest
FROM topics.get_records(topics.get_shard_iterator('si_behind', 0, 'TRIM_HORIZON'), 5);
-- AFTER_SEQUENCE_NUMBER names the seq it was given: no seq after the
-- next one is given out yet
SELECT topics.get_shard_iterator('si_behind', 0, 'AFTER_SEQUENCE_NUMBER', 5);
SELECT topics.get_shard_iterator('si_behind', 0, 'AFTER_SEQUENCE_NUMBER', 4) IS NOT NULL AS at_the_end;
-- a new key revokes the iterators signed with the old one, also in a
-- backend that used the old one (since 0.18; before, a backend read the
-- key once)
SELECT topics.get_shard_iterator('si_behind', 0, 'TRIM_HORIZON') AS it_before \gset
SELECT cardinality(records) FROM topics.get_records(:'it_before', 1);
BEGIN;
UPDATE topics._secret SET secret = decode(md5('rotated'), 'hex');
SELECT cardinality(records) FROM topics.get_records(:'it_before', 1);
\echo :SQLSTATE
ROLLBACK;
SELECT cardinality(records) FROM topics.get_records(:'it_before', 1);
DROP TABLE si_behind;

-- a rolled-back record at the tail is not the tip: its ts (an hour after
-- the committed ones') made millis_behind_latest an hour until 2026-12-02
SELECT topics.create_topic('si_behind_abort', 1);
INSERT INTO si_behind_abort (partition, key, value, ts)
VALUES (0, 'a', 'kept', '2026-01-01 00:00+00'), (0, 'b', 'kept', '2026-01-01 00:00:02+00');
BEGIN;
INSERT INTO si_behind_abort (partition, key, value, ts) VALUES (0, 'c', 'gone', '2026-01-01 01:00+00');
ROLLBACK;
-- 2 s behind the newest committed record
SELECT cardinality(records), millis_behind_latest
FROM topics.get_records(topics.get_shard_iterator('si_behind_abort', 0, 'TRIM_HORIZON'), 1);
-- the walk passes the aborted record: caught up
SELECT cardinality(records), millis_behind_latest
FROM topics.get_records(topics.get_shard_iterator('si_behind_abort', 0, 'TRIM_HORIZON'), 2);
-- a rolled-back batch that fills the tail page and more: the tip is still
-- the newest committed record, pages before (until 2026-12-02 the tail
-- page gave none, and the answer was 1)
BEGIN;
SELECT count(*) FROM topics.produce_batch('si_behind_abort', array_fill('k'::text, ARRAY[400]),
                                          array_fill(repeat('v', 200), ARRAY[400]));
ROLLBACK;
SELECT next_seq, last_stable_seq, bytes > 3 * 8192 AS several_pages
FROM topics.partitions WHERE topic = 'si_behind_abort'::regclass;
SELECT cardinality(records), millis_behind_latest
FROM topics.get_records(topics.get_shard_iterator('si_behind_abort', 0, 'TRIM_HORIZON'), 1);
SELECT cardinality(records), millis_behind_latest
FROM topics.get_records(topics.get_shard_iterator('si_behind_abort', 0, 'TRIM_HORIZON'), 2);
DROP TABLE si_behind_abort;
