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
-- a seq in the gap above the log start: the directory still names the
-- removed pages before the gap, and every walk must get past them
SELECT seq FROM topics.fetch('seek_gaps', 0, 500);
SELECT seq FROM seek_gaps WHERE partition = 0 AND seq >= 500 ORDER BY seq LIMIT 2;
SELECT seq FROM seek_gaps WHERE partition = 0 AND seq <= 500 ORDER BY seq DESC LIMIT 2;
DROP TABLE seek_gaps;

DROP FUNCTION buffers_touched(text);
DROP TABLE seek_topic;
