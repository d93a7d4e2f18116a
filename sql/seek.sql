--
-- Seeking costs O(log n) page reads through the topic's directory, and
-- reading k records after the seek touches about k / records-per-page pages.
-- Buffer accesses (from EXPLAIN BUFFERS) are deterministic for a given data
-- layout, unlike timings.
--
SELECT topics.create_topic('seek_topic', 1);

-- 300,000 records of 100 bytes: about 4,800 data pages in one partition
SELECT count(*)
FROM generate_series(1, 300) AS b,
     LATERAL topics.produce_batch('seek_topic',
                                  array_fill('k' || b, ARRAY[1000]),
                                  array_fill(convert_to(repeat('v', 100), 'UTF8'), ARRAY[1000]));

CREATE FUNCTION buffers_touched(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q INTO plan;
    RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::bigint
         + (plan->0->'Plan'->>'Shared Read Blocks')::bigint;
END
$$;

SELECT pg_relation_size('seek_topic') / 8192 > 4000 AS many_pages;

-- a seek anywhere in the partition reads a handful of pages, not thousands
SELECT buffers_touched($$SELECT * FROM topics.fetch('seek_topic', 0, 5, 10)$$) <= 10 AS seek_start,
       buffers_touched($$SELECT * FROM topics.fetch('seek_topic', 0, 151234, 10)$$) <= 10 AS seek_middle,
       buffers_touched($$SELECT * FROM topics.fetch('seek_topic', 0, 299990, 10)$$) <= 10 AS seek_end;

-- 1000 records after the seek: about 1000 / records-per-page data pages
SELECT buffers_touched($$SELECT * FROM topics.fetch('seek_topic', 0, 151234, 1000)$$) BETWEEN 15 AND 30 AS read_1000;

-- the seek lands on the right record
SELECT seq, key FROM topics.fetch('seek_topic', 0, 151234, 3);
SELECT seq, key FROM seek_topic WHERE partition = 0 AND seq >= 151234 ORDER BY seq LIMIT 3;

-- and every seq maps to its own record (spot checks across page and
-- directory-page boundaries)
SELECT s, (SELECT seq FROM topics.fetch('seek_topic', 0, s, 1)) = s AS found
FROM unnest(ARRAY[0, 61, 62, 63, 999, 1000, 20000, 20001, 123457, 299999]) AS s;

-- fetch streams: a LIMIT stops it after the pages it needed, where a
-- function filling a tuplestore would read all 100000 records first
SELECT buffers_touched($$SELECT * FROM topics.fetch('seek_topic', 0, 151234, 100000) LIMIT 10$$) <= 10 AS streamed;

-- "seq >= x LIMIT n" without ORDER BY seeks too: the rows it wants are at
-- one end of the topic, not spread through it as the planner assumes for a
-- sequential scan
ANALYZE seek_topic;
EXPLAIN (COSTS OFF) SELECT * FROM seek_topic WHERE partition = 0 AND seq >= 200000 LIMIT 10;
SELECT buffers_touched($$SELECT * FROM seek_topic WHERE partition = 0 AND seq >= 200000 LIMIT 10$$) <= 10 AS few_pages;
-- and with ORDER BY seq, which a topic of one partition also serves
-- without a partition bound (0.14): the seek keeps the bench's seeking
-- SELECT (an ordered sequential scan, costed as if the rows past 5000 were
-- spread through the topic, won it and read from the start), and seq
-- bounds without a partition seek the topic's only one
EXPLAIN (COSTS OFF) SELECT value FROM seek_topic WHERE partition = 0 AND seq >= 5000 ORDER BY seq LIMIT 1000;
EXPLAIN (COSTS OFF) SELECT value FROM seek_topic WHERE seq >= 250000 ORDER BY seq LIMIT 10;
EXPLAIN (COSTS OFF) SELECT value FROM seek_topic ORDER BY seq LIMIT 10;
-- each branch of a UNION ALL seeks
EXPLAIN (COSTS OFF)
SELECT seq FROM seek_topic WHERE partition = 0 AND seq BETWEEN 10 AND 12
UNION ALL
SELECT seq FROM seek_topic WHERE partition = 0 AND seq BETWEEN 299990 AND 299992;
SELECT seq FROM seek_topic WHERE partition = 0 AND seq BETWEEN 10 AND 12
UNION ALL
SELECT seq FROM seek_topic WHERE partition = 0 AND seq BETWEEN 299990 AND 299992;

-- ORDER BY seq DESC: the latest records, walking backward from the end or
-- from an upper bound, reading a few pages, not the partition
EXPLAIN (COSTS OFF) SELECT seq FROM seek_topic WHERE partition = 0 ORDER BY seq DESC LIMIT 5;
SELECT seq, key FROM seek_topic WHERE partition = 0 ORDER BY seq DESC LIMIT 3;
SELECT buffers_touched($$SELECT * FROM seek_topic WHERE partition = 0 ORDER BY seq DESC LIMIT 100$$) <= 20 AS few_pages;
SELECT seq FROM seek_topic WHERE partition = 0 AND seq < 151236 ORDER BY seq DESC LIMIT 4;
SELECT seq FROM seek_topic WHERE partition = 0 AND seq BETWEEN 60 AND 64 ORDER BY seq DESC;
SELECT seq FROM seek_topic WHERE partition = 0 AND seq <= 2 ORDER BY seq DESC;
-- the backward walk returns exactly the forward walk, reversed, across pages
SELECT (SELECT array_agg(seq) FROM (SELECT seq FROM seek_topic WHERE partition = 0
            AND seq BETWEEN 1000 AND 5000 ORDER BY seq DESC) d)
     = (SELECT array_agg(seq ORDER BY seq DESC) FROM seek_topic WHERE partition = 0
            AND seq BETWEEN 1000 AND 5000) AS same_records;

-- backward over gaps: aborted records, and a jump in explicit seqs between pages
SELECT topics.create_topic('seek_gaps', 1);
SELECT count(*) FROM topics.produce_batch('seek_gaps', ARRAY(SELECT 'a' || g FROM generate_series(0, 99) g),
                                          ARRAY(SELECT repeat('v', 100) FROM generate_series(0, 99) g));
BEGIN;
SELECT count(*) FROM topics.produce_batch('seek_gaps', ARRAY(SELECT 'x' || g FROM generate_series(0, 69) g),
                                          ARRAY(SELECT repeat('v', 100) FROM generate_series(0, 69) g));
ROLLBACK;
INSERT INTO seek_gaps (partition, seq, key, value) SELECT 0, 1000 + g, 'b' || g, '\x00' FROM generate_series(0, 4) g;
SELECT seq, key FROM seek_gaps WHERE partition = 0 AND seq <= 1002 ORDER BY seq DESC LIMIT 6;
SELECT count(*), max(seq), min(seq) FROM (SELECT seq FROM seek_gaps WHERE partition = 0 ORDER BY seq DESC) s;
SELECT seq FROM seek_gaps WHERE partition = 0 AND seq BETWEEN 120 AND 999 ORDER BY seq DESC;
-- and past the log start: retention removed the head, the walk ends there
ALTER TABLE seek_gaps SET (autovacuum_enabled = off);
SELECT topics.alter_topic('seek_gaps', retention_bytes => 0);
SELECT pages_removed > 0 AS removed, log_start_seq FROM topics.maintain('seek_gaps');
SELECT count(*), min(seq), max(seq) FROM (SELECT seq FROM seek_gaps WHERE partition = 0 ORDER BY seq DESC) s;
SELECT count(*) FROM (SELECT seq FROM seek_gaps WHERE partition = 0 AND seq <= 50 ORDER BY seq DESC) s;
-- the log start is the new head's first seq, past the gap (until 0.9 it
-- was the end of the removed pages, 170, in the gap); a seq in the gap is
-- below it: fetch says so, as Kafka's does for an offset below the log
-- start, and the other walks go on at it
SELECT seq FROM topics.fetch('seek_gaps', 0, 500);
SELECT seq FROM seek_gaps WHERE partition = 0 AND seq >= 500 ORDER BY seq LIMIT 2;
SELECT seq FROM seek_gaps WHERE partition = 0 AND seq <= 500 ORDER BY seq DESC LIMIT 2;
DROP TABLE seek_gaps;

-- Until 0.9 retention left the log start at the end of the page it removed
-- even when the next page began after a gap (aborted seqs VACUUM FULL left
-- out, or an explicit seq).  Once an append reused the removed page for
-- newer records, every walk from the log start followed the directory to
-- it and went on from there: the records of the page after the gap were
-- skipped by fetch, shard iterators, consume and SELECT, without an error.
SELECT topics.create_topic('seek_reuse', 1, retention => '1 day');
ALTER TABLE seek_reuse SET (autovacuum_enabled = off);
INSERT INTO seek_reuse (key, value, ts)
SELECT 'old', convert_to(repeat('o', 1900), 'UTF8'), '2020-01-01' FROM generate_series(1, 4);
BEGIN;
INSERT INTO seek_reuse (key, value) VALUES ('aborted', convert_to(repeat('a', 1900), 'UTF8'));
ROLLBACK;
INSERT INTO seek_reuse (key, value) VALUES ('new', convert_to(repeat('n', 1900), 'UTF8'));
VACUUM FULL seek_reuse;
SELECT pages_removed, log_start_seq FROM topics.maintain('seek_reuse');
INSERT INTO seek_reuse (key, value)
SELECT 'new', convert_to(repeat('n', 1900), 'UTF8') FROM generate_series(1, 6);
SELECT array_agg(seq ORDER BY seq) AS select_all FROM seek_reuse;
SELECT array_agg(seq) AS fetch_from_log_start
FROM topics.fetch('seek_reuse', 0, (SELECT log_start_seq FROM topics.partitions WHERE topic = 'seek_reuse'::regclass));
SELECT array(SELECT (r).seq FROM unnest(records) r) AS trim_horizon
FROM topics.get_records(topics.get_shard_iterator('seek_reuse', 0, 'TRIM_HORIZON'));
SELECT array_agg(seq) AS consumed FROM topics.consume('seek_reuse_g', 'seek_reuse');
SELECT array_agg(seq) AS seek FROM (SELECT seq FROM seek_reuse WHERE partition = 0 AND seq >= 0 ORDER BY seq) s;
DROP TABLE seek_reuse;

DROP TABLE seek_topic;

-- The partition and seq bounds are exact (the walk returns only those
-- rows), so TopicSeek does not recheck them: its rows must be those of a
-- sequential scan for every operator, type and edge value, forward and
-- backward.  "+ 0" keeps the reference query off TopicSeek.
SELECT topics.create_topic('seek_bounds', 2);
SELECT count(*) FROM topics.produce_batch('seek_bounds', ARRAY(SELECT 'k' || g FROM generate_series(0, 199) g),
                                          ARRAY(SELECT repeat('v', 200) FROM generate_series(0, 199) g), NULL, 1);
BEGIN;
SELECT count(*) FROM topics.produce_batch('seek_bounds', ARRAY(SELECT 'x' || g FROM generate_series(0, 49) g),
                                          ARRAY(SELECT repeat('v', 200) FROM generate_series(0, 49) g), NULL, 1);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('seek_bounds', ARRAY(SELECT 'k' || g FROM generate_series(0, 99) g),
                                          ARRAY(SELECT repeat('v', 200) FROM generate_series(0, 99) g), NULL, 1);
-- partition 0: one page, whose first seq is 0 (a bound at the largest
-- bigint overflowed against it until 0.13: "seq >= 9223372036854775807"
-- returned every record, "seq <= 9223372036854775807 ORDER BY seq DESC"
-- none)
SELECT count(*) FROM topics.produce_batch('seek_bounds', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], NULL, 0);
EXPLAIN (COSTS OFF) SELECT seq FROM seek_bounds WHERE partition = 1 AND seq > 5::smallint;
-- compare(q, ref): whether q plans as TopicSeek, and whether its rows
-- differ from those of ref (the same query kept off TopicSeek)
CREATE FUNCTION compare(q text, ref text, OUT seek bool, OUT differs bool)
LANGUAGE plpgsql AS $$
DECLARE
    line text;
    got bigint[];
    want bigint[];
BEGIN
    seek := false;
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        seek := seek OR line LIKE '%TopicSeek%';
    END LOOP;
    EXECUTE format('SELECT array_agg(seq) FROM (%s) s', q) INTO got;
    EXECUTE format('SELECT array_agg(seq) FROM (%s) s', ref) INTO want;
    differs := got IS DISTINCT FROM want;
END
$$;
WITH cases(q, ref) AS (
    SELECT format('SELECT seq FROM seek_bounds WHERE partition = %s AND seq %s %s ORDER BY seq %s',
                  p, op, v, dir),
           format('SELECT seq FROM seek_bounds WHERE partition + 0 = %s AND seq + 0 %s %s ORDER BY seq %s',
                  p, op, v, dir)
    FROM unnest(ARRAY['1', '0', '2', '-1', 'NULL', '1::smallint', '1::bigint']) p,
         unnest(ARRAY['=', '>', '>=', '<', '<=']) op,
         unnest(ARRAY['-1', '0', '1', '40', '199', '200', '249', '250', '251', '349', '350', '1000',
                      'NULL', '120::smallint', '32767::smallint', '2147483647',
                      '9223372036854775807', '(-9223372036854775807 - 1)']) v,
         unnest(ARRAY['', 'DESC']) dir
    UNION ALL
    -- two bounds at once, and a bound TopicSeek cannot use (numeric)
    SELECT format('SELECT seq FROM seek_bounds WHERE partition = 1 AND %s ORDER BY seq', c),
           format('SELECT seq FROM seek_bounds WHERE partition + 0 = 1 AND %s ORDER BY seq',
                  replace(c, 'seq', '(seq + 0)'))
    FROM unnest(ARRAY['seq > 198 AND seq < 251', 'seq >= 199 AND seq <= 250 AND seq > 200',
                      'seq BETWEEN 150 AND 260', 'seq = 199 AND seq >= 199', 'seq > 199.5',
                      -- an equality after a range bound (until 0.9 it bounded
                      -- one side only and was not rechecked: 3, 4, 5 came back)
                      'seq >= 3 AND seq = 5', 'seq <= 230 AND seq = 205',
                      'seq > 190 AND seq = 199 AND seq < 230',
                      'seq >= 240 AND seq < 240', 'seq > 9223372036854775806']) c
    UNION ALL
    SELECT format('SELECT seq FROM seek_bounds WHERE partition = 0 AND %s ORDER BY seq %s', c, dir),
           format('SELECT seq FROM seek_bounds WHERE partition + 0 = 0 AND %s ORDER BY seq %s',
                  replace(c, 'seq', '(seq + 0)'), dir)
    FROM unnest(ARRAY['seq > 9223372036854775806', 'seq BETWEEN 1 AND 9223372036854775807',
                      'seq <= 9223372036854775807', 'seq >= 0 AND seq <= 9223372036854775807']) c,
         unnest(ARRAY['', 'DESC']) dir),
r AS MATERIALIZED (SELECT q, (compare(q, ref)).* FROM cases)
SELECT count(*) AS combinations, count(*) FILTER (WHERE seek) AS planned_as_topicseek,
       count(*) FILTER (WHERE differs) AS differ_from_seq_scan,
       string_agg(q, '; ') FILTER (WHERE differs) AS differing
FROM r;
-- an operator of another btree family is not a bound: here ">>=" means
-- "<=" (strategy 4 of a reversed family), and the rows are those it says
CREATE FUNCTION rev_ge(a int8, b int8) RETURNS bool LANGUAGE plpgsql IMMUTABLE
    AS 'BEGIN RETURN a <= b; END';    -- plpgsql: not inlined into a plain <=
CREATE FUNCTION rev_cmp(int8, int8) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT btint8cmp($2, $1)';
CREATE OPERATOR >>= (LEFTARG = int8, RIGHTARG = int8, FUNCTION = rev_ge);
CREATE OPERATOR FAMILY rev_int8_ops USING btree;
ALTER OPERATOR FAMILY rev_int8_ops USING btree
    ADD OPERATOR 4 >>= (int8, int8), FUNCTION 1 rev_cmp(int8, int8);
SELECT seq FROM seek_bounds WHERE partition = 1 AND seq >>= 3 ORDER BY seq;

-- a plain SELECT's row holds only the columns the query uses, in the order
-- it uses them, and then those only its quals use: the rows are a
-- sequential scan's with columns in another order, a qual on a column not
-- returned, and backward
EXPLAIN (VERBOSE, COSTS OFF)
SELECT value, key, seq FROM seek_bounds WHERE partition = 1 AND seq >= 20 AND length(headers::text) IS NULL;
SELECT count(*) AS rows, count(*) FILTER (WHERE NOT same) AS differences
FROM (SELECT a.k IS NOT DISTINCT FROM b.k AND a.v IS NOT DISTINCT FROM b.v AND a.s = b.s AS same
      FROM (SELECT value v, key k, seq s, row_number() OVER (ORDER BY seq) n FROM seek_bounds
            WHERE partition = 1 AND seq >= 20 AND length(headers::text) IS NULL) a
      FULL JOIN (SELECT value v, key k, seq s, row_number() OVER (ORDER BY seq) n FROM seek_bounds
                 WHERE partition + 0 = 1 AND seq + 0 >= 20 AND length(headers::text) IS NULL) b
      USING (n)) c;
SELECT key, ts IS NOT NULL AS has_ts, seq FROM seek_bounds WHERE partition = 1 AND seq <= 3 ORDER BY seq DESC;

-- a lower bound on ts starts the walk through the time index and stays a
-- qual; timestamps given by producers need not rise with seq (here they
-- rise with a jitter of half an hour, then a batch goes back in time), and
-- no row may be missed: compare with a sequential scan over many bounds
SELECT topics.create_topic('seek_ts', 1);
INSERT INTO seek_ts (partition, key, value, ts)
SELECT 0, 'k' || g, convert_to(repeat('v', 300), 'UTF8'),
       '2026-01-01 00:00:00+00'::timestamptz + (g + (g * 7919) % 61 - 30) * interval '1 minute'
FROM generate_series(0, 999) g;
INSERT INTO seek_ts (partition, key, value, ts)
SELECT 0, 'late' || g, convert_to(repeat('v', 300), 'UTF8'),
       '2026-01-01 00:00:00+00'::timestamptz + g * interval '2 minute'
FROM generate_series(0, 299) g;
SELECT pg_relation_size('seek_ts') / 8192 > 40 AS many_pages;
-- the walk starts near the bound, not at the head
SELECT buffers_touched($$SELECT seq FROM seek_ts WHERE partition = 0
                         AND ts >= '2026-01-01 16:00:00+00' ORDER BY seq LIMIT 5$$) < 15 AS starts_near;
WITH cases(q, ref) AS (
    SELECT format('SELECT seq FROM seek_ts WHERE partition = 0 AND ts %s %L::timestamptz ORDER BY seq',
                  op, '2026-01-01 00:00:00+00'::timestamptz + m * interval '1 minute'),
           format('SELECT seq FROM seek_ts WHERE partition + 0 = 0 AND ts + interval ''0'' %s %L::timestamptz
                   ORDER BY seq', op, '2026-01-01 00:00:00+00'::timestamptz + m * interval '1 minute')
    FROM generate_series(-10, 1010, 17) m, unnest(ARRAY['>=', '>', '=']) op),
r AS MATERIALIZED (SELECT q, (compare(q, ref)).* FROM cases)
SELECT count(*) AS ts_bounds, count(*) FILTER (WHERE seek) AS planned_as_topicseek,
       count(*) FILTER (WHERE differs) AS differ_from_seq_scan,
       string_agg(q, '; ') FILTER (WHERE differs) AS differing
FROM r;

-- a topic of one partition seeks with seq bounds that name no partition
-- (0.14), in either direction; the rows are those of a sort
SELECT topics.create_topic('seek_one', 1);
SELECT count(*) FROM topics.produce_batch('seek_one', ARRAY(SELECT 'k' || g FROM generate_series(0, 299) g),
                                          ARRAY(SELECT 'v' || g FROM generate_series(0, 299) g));
WITH cases(q, ref) AS (
    SELECT format('SELECT seq FROM seek_one WHERE seq %s %s ORDER BY seq %s', op, v, dir),
           format('SELECT seq FROM seek_one WHERE seq + 0 %s %s ORDER BY seq + 0 %s', op, v, dir)
    FROM unnest(ARRAY['=', '>', '>=', '<', '<=']) op,
         unnest(ARRAY['-1', '0', '150', '299', '300', 'NULL', '9223372036854775807']) v,
         unnest(ARRAY['', 'DESC']) dir
    UNION ALL
    SELECT format('SELECT seq FROM seek_one WHERE %s ORDER BY seq %s', c, dir),
           format('SELECT seq FROM seek_one WHERE %s ORDER BY seq + 0 %s', replace(c, 'seq', '(seq + 0)'), dir)
    FROM unnest(ARRAY['seq BETWEEN 10 AND 20', 'seq > 250 AND key <> ''k260''', 'seq >= 3 AND seq = 5']) c,
         unnest(ARRAY['', 'DESC']) dir),
r AS MATERIALIZED (SELECT q, (compare(q, ref)).* FROM cases)
SELECT count(*) AS one_partition_bounds, count(*) FILTER (WHERE seek) AS planned_as_topicseek,
       count(*) FILTER (WHERE differs) AS differ_from_sort,
       string_agg(q, '; ') FILTER (WHERE differs) AS differing
FROM r;
EXPLAIN (COSTS OFF) SELECT seq FROM seek_one WHERE seq >= 250 ORDER BY seq DESC LIMIT 3;
DROP TABLE seek_one;

DROP TABLE seek_bounds, seek_ts;
DROP OPERATOR FAMILY rev_int8_ops USING btree;
DROP OPERATOR >>= (int8, int8);
DROP FUNCTION rev_ge(int8, int8), rev_cmp(int8, int8), compare(text, text), buffers_touched(text);
