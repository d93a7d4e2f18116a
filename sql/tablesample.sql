--
-- TABLESAMPLE on a topic: SYSTEM and BERNOULLI (and any other method) pick
-- blocks and line pointers; a picked record comes back when the snapshot
-- sees it.  Aborted records are never sampled, nor are the topic's pages
-- that hold no records.
--
\set VERBOSITY terse
SELECT topics.create_topic('ts_sample', 3);
SELECT count(*) FROM topics.produce_batch('ts_sample',
    ARRAY(SELECT 'k' || g FROM generate_series(1, 3000) g),
    ARRAY(SELECT convert_to(repeat('v', 50) || g, 'UTF8') FROM generate_series(1, 3000) g));
BEGIN;
SELECT count(*) FROM topics.produce_batch('ts_sample',
    ARRAY(SELECT 'aborted' FROM generate_series(1, 500) g),
    ARRAY(SELECT 'x'::bytea FROM generate_series(1, 500) g));
ROLLBACK;
SELECT count(*) FROM topics.produce('ts_sample', 'after', 'y');
CREATE TEMP TABLE ts_all AS SELECT partition, seq, key, value FROM ts_sample;

-- everything at 100%, nothing at 0%
SELECT (SELECT count(*) FROM ts_sample TABLESAMPLE SYSTEM (100)) AS system_100,
       (SELECT count(*) FROM ts_sample TABLESAMPLE BERNOULLI (100)) AS bernoulli_100,
       (SELECT count(*) FROM ts_all) AS records,
       (SELECT count(*) FROM ts_sample TABLESAMPLE SYSTEM (0)) AS system_0,
       (SELECT count(*) FROM ts_sample TABLESAMPLE BERNOULLI (0)) AS bernoulli_0;
SELECT count(*) AS not_a_record
FROM (SELECT partition, seq, key, value FROM ts_sample TABLESAMPLE SYSTEM (100)
      EXCEPT ALL SELECT * FROM ts_all) s;

-- a sample: some records, each a record of the topic, once, never an
-- aborted one, the same again with the same seed
CREATE TEMP TABLE ts_half AS
SELECT partition, seq, key, value FROM ts_sample TABLESAMPLE BERNOULLI (50) REPEATABLE (42);
SELECT count(*) > 1000 AND count(*) < 2000 AS about_half,
       count(*) = count(DISTINCT (partition, seq)) AS once_each,
       count(*) FILTER (WHERE key = 'aborted') AS aborted
FROM ts_half;
SELECT count(*) AS not_a_record FROM (SELECT * FROM ts_half EXCEPT ALL SELECT * FROM ts_all) s;
SELECT count(*) AS differs
FROM (SELECT partition, seq, key, value FROM ts_sample TABLESAMPLE BERNOULLI (50) REPEATABLE (42)
      EXCEPT ALL SELECT * FROM ts_half) s;
SELECT count(*) > 0 AND count(*) < 3001 AS some_blocks
FROM ts_sample TABLESAMPLE SYSTEM (50) REPEATABLE (7);
EXPLAIN (COSTS OFF) SELECT * FROM ts_sample TABLESAMPLE SYSTEM (10);
-- with a partition fixed by the WHERE clause the sample is still drawn: a
-- TopicSeek of the partition was cheaper and ignored the sample (until 0.10)
SELECT count(*) AS none_sampled FROM ts_sample TABLESAMPLE BERNOULLI (0) WHERE partition = 0;
SELECT count(*) = (SELECT count(*) FROM ts_half WHERE partition = 1 AND seq >= 10) AS same_sample
FROM ts_sample TABLESAMPLE BERNOULLI (50) REPEATABLE (42) WHERE partition = 1 AND seq >= 10;
EXPLAIN (COSTS OFF)
SELECT * FROM ts_sample TABLESAMPLE SYSTEM (1) WHERE partition = 2 ORDER BY seq LIMIT 5;
SELECT topics.drop_topic('ts_sample');
