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

DROP FUNCTION buffers_touched(text);
DROP TABLE seek_topic;
