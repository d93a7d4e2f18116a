--
-- VACUUM FULL of a topic writes new storage with the committed records,
-- each with its partition, seq, ts, key, value and headers.  Aborted
-- records and those compaction removed are left out (their seqs become
-- unused line pointers), so a compacted topic shrinks; every partition
-- keeps its log start and its next seq.  In a database of its own, so
-- that a database-wide VACUUM FULL meets only this test's tables.
--
\set regress_db :DBNAME
CREATE DATABASE pg_topics_vf;
\c pg_topics_vf
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('vf_t', 3, cleanup_policy => 'compact');
-- 50 keys over 3000 records of about 100 bytes
SELECT count(*) FROM topics.produce_batch('vf_t',
    ARRAY(SELECT 'k' || (g % 50) FROM generate_series(1, 3000) g),
    ARRAY(SELECT repeat('v', 100) || g FROM generate_series(1, 3000) g));
-- a value stored out of line (TOAST), with headers
SELECT partition FROM topics.produce('vf_t', 'big',
    convert_to((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g), 'UTF8'),
    '{"h": 1}', partition => 0);
SELECT pg_relation_size(reltoastrelid) > 0 AS toasted FROM pg_class WHERE oid = 'vf_t'::regclass;
-- aborted records in the middle of partition 1 and at the end of partition 2
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf_t', ARRAY['x', 'y'], ARRAY['1', '2'], partition => 1);
ROLLBACK;
SELECT partition FROM topics.produce('vf_t', 'k1', 'after'::bytea, partition => 1);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf_t', ARRAY['x', 'y'], ARRAY['1', '2'], partition => 2);
ROLLBACK;
-- compaction keeps the latest record of each key
SELECT sum(records_removed) > 2000 AS compacted FROM topics.maintain('vf_t');

CREATE TEMP TABLE vf_before AS SELECT * FROM vf_t;
CREATE TEMP TABLE vf_bounds AS SELECT * FROM topics.partition_bounds('vf_t');
CREATE TEMP TABLE vf_size AS SELECT pg_relation_size('vf_t') AS bytes;
-- a shard iterator taken before, used after
CREATE TEMP TABLE vf_it AS SELECT topics.get_shard_iterator('vf_t', 1, 'TRIM_HORIZON') AS it;
SELECT count(*) AS records FROM vf_before;

-- records stored under a larger pg_topics.max_record_bytes are copied as
-- they are: the limit is for producers
SET pg_topics.max_record_bytes = 1000;
VACUUM FULL vf_t;
RESET pg_topics.max_record_bytes;

-- the same records, the same bounds, a quarter of the pages or less
SELECT count(*) AS records FROM vf_t;
SELECT count(*) AS differ FROM (
    (SELECT partition, seq, ts, key, value, headers::text FROM vf_before
     EXCEPT SELECT partition, seq, ts, key, value, headers::text FROM vf_t)
    UNION ALL
    (SELECT partition, seq, ts, key, value, headers::text FROM vf_t
     EXCEPT SELECT partition, seq, ts, key, value, headers::text FROM vf_before)) d;
SELECT b.partition, b.log_start_seq = a.log_start_seq AS same_log_start,
       b.next_seq = a.next_seq AS same_next_seq
FROM vf_bounds b JOIN topics.partition_bounds('vf_t') a USING (partition) ORDER BY 1;
SELECT pg_relation_size('vf_t') * 4 <= (SELECT bytes FROM vf_size) AS shrank;
SELECT length(value), headers FROM vf_t WHERE key = 'big';

-- readers: fetch from the log start, a shard iterator, a consumer group
SELECT count(*) = (SELECT count(*) FROM vf_before WHERE partition = 1) AS fetched_all
FROM topics.fetch('vf_t', 1, (SELECT log_start_seq FROM vf_bounds WHERE partition = 1), 10000);
SELECT cardinality(records) = (SELECT count(*) FROM vf_before WHERE partition = 0) AS iterated_all
FROM topics.get_records(topics.get_shard_iterator('vf_t', 0, 'TRIM_HORIZON'), 10000);
SELECT cardinality(records) = (SELECT count(*) FROM vf_before WHERE partition = 1) AS old_iterator_goes_on
FROM topics.get_records((SELECT it FROM vf_it), 10000);
SELECT count(*) FROM topics.consume('vf_g', 'vf_t', 10000);
SELECT count(*) FROM topics.consume('vf_g', 'vf_t', 10000);
SELECT count(*) FROM topics.consume('vf_g', 'vf_t', 10000);
-- (to the next seq: past partition 2's trailing aborted records too)
SELECT c.partition, c.seq = (SELECT next_seq FROM vf_bounds b WHERE b.partition = c.partition)
       AS consumed_all
FROM topics.committed('vf_g', 'vf_t') c ORDER BY 1;
-- new records take the next seqs; partition 2 ended with aborted records,
-- whose seqs are not given again
SELECT p.partition, p.seq = b.next_seq AS continues
FROM topics.produce('vf_t', 'new', 'n'::bytea, partition => 2) p
JOIN vf_bounds b USING (partition);
SELECT p.partition, p.seq = b.next_seq AS continues
FROM topics.produce('vf_t', 'new', 'n'::bytea, partition => 1) p
JOIN vf_bounds b USING (partition);
-- what was copied is frozen: relfrozenxid moved to the freeze limit
SELECT age(relfrozenxid) < 10 AS frozen FROM pg_class WHERE oid = 'vf_t'::regclass;

-- a topic with no records, a truncated one (its seqs go on) and a heap
-- table: a database-wide VACUUM FULL rewrites them all
SELECT topics.create_topic('vf_empty', 2);
SELECT topics.create_topic('vf_trunc', 1);
SELECT count(*) FROM topics.produce_batch('vf_trunc', ARRAY['a', 'b'], ARRAY['1', '2']);
TRUNCATE vf_trunc;
CREATE TABLE vf_heap AS SELECT 1 AS i;
CREATE TEMP TABLE vf_files AS
SELECT relname, pg_relation_filenode(oid) AS filenode FROM pg_class
WHERE relname IN ('vf_t', 'vf_empty', 'vf_trunc', 'vf_heap');
VACUUM FULL;
SELECT f.relname, pg_relation_filenode(f.relname::regclass) <> f.filenode AS rewritten
FROM vf_files f ORDER BY 1;
SELECT * FROM topics.partition_bounds('vf_empty');
SELECT * FROM topics.partition_bounds('vf_trunc');
SELECT partition, seq FROM topics.produce('vf_trunc', 'c', '3'::bytea);
SELECT count(*) AS records FROM vf_t;

-- a partition whose first records were aborted keeps its log start: VACUUM
-- FULL leaves the aborted records out, and its copies must not move the
-- bounds (0.9 starts a partition's log at the first explicit seq of a
-- restore, but not at a copy's)
SELECT topics.create_topic('vf_abhead', 1);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf_abhead', ARRAY['x', 'x', 'x'], ARRAY['0', '1', '2']);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('vf_abhead', ARRAY['y', 'y'], ARRAY['3', '4']);
VACUUM FULL vf_abhead;
SELECT log_start_seq, next_seq FROM topics.partition_info('vf_abhead');
SELECT seq FROM topics.fetch('vf_abhead', 0, 0);
-- and so does a partition whose records were all aborted
SELECT topics.create_topic('vf_aball', 2);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vf_aball', ARRAY['x', 'x', 'x'], ARRAY['0', '1', '2'], partition => 0);
ROLLBACK;
VACUUM FULL vf_aball;
SELECT partition, log_start_seq, next_seq FROM topics.partition_info('vf_aball');
SELECT count(*) FROM topics.fetch('vf_aball', 0, 0);

\c :regress_db
DROP DATABASE pg_topics_vf;
