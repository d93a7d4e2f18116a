--
-- Bad input and limits at the edges: seqs beyond 2^31 and 2^32, the
-- largest partition count, names that need quoting, extreme arguments.
--
\set VERBOSITY terse

-- seqs past 2^31 and 2^32 (restored or mirrored logs start there)
SELECT topics.create_topic('ed_big', 2);
INSERT INTO ed_big (partition, seq, key, value) VALUES (0, 2147483647, 'a', '\x01');
INSERT INTO ed_big (partition, seq, key, value) VALUES (0, 2147483648, 'b', '\x02');
INSERT INTO ed_big (partition, seq, key, value) VALUES (0, 4294967296, 'c', '\x03');
SELECT * FROM topics.produce('ed_big', 'd', 'next', partition => 0);
SELECT seq, key FROM topics.fetch('ed_big', 0, 2147483647);
SELECT seq, key FROM topics.fetch('ed_big', 0, 4294967296);
SELECT seq, key FROM ed_big WHERE partition = 0 AND seq > 2147483648 ORDER BY seq;
SELECT seq, key FROM ed_big WHERE partition = 0 AND seq BETWEEN 2147483648 AND 4294967296 ORDER BY seq;
SELECT next_seq, record_count FROM topics.partitions WHERE topic = 'ed_big'::regclass AND partition = 0;
SELECT cardinality(records), (records[1]).seq
FROM topics.get_records(topics.get_shard_iterator('ed_big', 0, 'AFTER_SEQUENCE_NUMBER', 2147483648), 10);
SELECT topics.commit('ed_group', 'ed_big', 0, 4294967297);
SELECT seq FROM topics.consume('ed_group', 'ed_big', 10);
-- seqs must grow; the largest bigint seqs are refused cleanly
INSERT INTO ed_big (partition, seq, key, value) VALUES (0, 5, 'low', '\x00');
SELECT * FROM topics.fetch('ed_big', 0, 9223372036854775807);
SELECT * FROM topics.fetch('ed_big', 0, -1);
SELECT * FROM topics.fetch('ed_big', 2147483647, 0);
SELECT * FROM topics.fetch('ed_big', -1, 0);
SELECT seq, key FROM topics.fetch('ed_big', 0, 2147483647, 2147483647, 2147483647) LIMIT 1;
SELECT * FROM topics.fetch('ed_big', 0, 2147483647, -5);
SELECT * FROM topics.produce('ed_big', 'k', 'v', partition => 2);
-- the hint suggests alter_topic only up to the largest partition count
-- (before, partition 2147483647 was told "partitions => -2147483648")
\set VERBOSITY default
SELECT * FROM topics.produce('ed_big', 'k', 'v', partition => 2147483647);
SELECT * FROM topics.fetch('ed_big', 10000, 0);
SELECT * FROM topics.produce('ed_big', 'k', 'v', partition => 9999);
\set VERBOSITY terse

-- the largest partition count works end to end
SELECT topics.create_topic('ed_wide', 10000);
SELECT count(*), max(partition) FROM topics.partitions WHERE topic = 'ed_wide'::regclass;
SELECT * FROM topics.produce('ed_wide', NULL, 'last', partition => 9999);
SELECT seq, convert_from(value, 'UTF8') FROM topics.fetch('ed_wide', 9999, 0);
SELECT count(*) FROM topics.consume('ed_wide_group', 'ed_wide', 10);
-- a NULL-key batch across every partition in one transaction, rolled back
-- (until 0.13 the registry of open partitions held 8192 by default and the
-- batch failed); a group goes past it in one call (a look takes every
-- partition with aborted records in one pass: until 0.13 it planned and ran
-- its query again for each, minutes for this many), then reads a record
BEGIN;
SELECT count(*), count(DISTINCT partition) FROM topics.produce_batch('ed_wide',
    array_fill(NULL::text, ARRAY[10000]), array_fill('v'::text, ARRAY[10000]));
ROLLBACK;
-- the session's note of the partitions its transaction registered is let go
-- after so many (until 0.13 it kept an entry for each for good)
SELECT count(*) AS notes FROM pg_backend_memory_contexts
WHERE name = 'pg_topics registered partitions';
SELECT count(*) FROM topics.consume('ed_wide_group', 'ed_wide', 10);
SELECT count(*) AS partitions, sum(lag) AS lag FROM topics.consumer_lag WHERE group_id = 'ed_wide_group';
SELECT * FROM topics.produce('ed_wide', NULL, 'after', partition => 4321);
SELECT partition, seq, convert_from(value, 'UTF8') FROM topics.consume('ed_wide_group', 'ed_wide', 10);
SELECT topics.alter_topic('ed_wide', partitions => 10001);
SELECT topics.create_topic('ed_none', 0);

-- names that need quoting, everywhere a topic is named
CREATE SCHEMA "Ed Schema";
SELECT topics.create_topic('"Ed Schema"."Ørders; DROP TABLE x"', 2);
SELECT * FROM topics.produce('"Ed Schema"."Ørders; DROP TABLE x"', 'k', 'v', partition => 1);
SELECT seq, key FROM topics.fetch('"Ed Schema"."Ørders; DROP TABLE x"', 1, 0);
SELECT topics.alter_topic('"Ed Schema"."Ørders; DROP TABLE x"', partitions => 3, retention_bytes => 100000);
SELECT topic, partitions, retention_bytes FROM topics.topics WHERE schema_name = 'Ed Schema';
SELECT count(*) FROM topics.maintain('"Ed Schema"."Ørders; DROP TABLE x"');
SELECT count(*) FROM topics.consume('grp', '"Ed Schema"."Ørders; DROP TABLE x"');
SELECT topics.drop_topic('"Ed Schema"."Ørders; DROP TABLE x"');
DROP SCHEMA "Ed Schema";
SELECT topics.create_topic('not"closed', 1);
SELECT topics.create_topic('', 1);
SELECT topics.fetch('no_such_topic', 0, 0);

DROP TABLE ed_big, ed_wide;

-- Explicit seqs near the top of bigint.  Until 0.9 a seq of 2^62 or more
-- made the size check of the skipped line pointers overflow, and the insert
-- added empty pages until the disk was full, deaf to statement_timeout;
-- and seqs counted past 2^63 - 1 into negative ones.
SELECT topics.create_topic('edge_big', 1);
SET statement_timeout = '60s';
INSERT INTO edge_big (seq, key, value) VALUES (4611686018427387904, 'a', 'x') RETURNING seq;
INSERT INTO edge_big (seq, key, value) VALUES (9223372036854775807, 'a', 'x');
\echo :SQLSTATE
INSERT INTO edge_big (seq, key, value) VALUES (9223372036854710271, 'a', 'x') RETURNING seq;
SELECT * FROM topics.produce('edge_big', 'b', 'y');
\echo :SQLSTATE
RESET statement_timeout;
SELECT pg_relation_size('edge_big') <= 8 * 8192 AS small;
SELECT log_start_seq, next_seq FROM topics.partition_info('edge_big');
SELECT seq FROM edge_big ORDER BY seq;
DROP TABLE edge_big;

-- A partition without pages that is asked for a seq past its next one (a
-- restore of a partition whose log start had moved) starts its log there
SELECT topics.create_topic('edge_start', 2);
INSERT INTO edge_start (partition, seq, key, value) VALUES (0, 5000, 'a', 'x'), (0, 5002, 'b', 'y');
SELECT partition, log_start_seq, next_seq, record_count FROM topics.partition_info('edge_start');
SELECT seq FROM topics.fetch('edge_start', 0, 0);
\echo :SQLSTATE
SELECT seq FROM topics.fetch('edge_start', 0, 5000);
DROP TABLE edge_start;

-- waits and AFTER_SEQUENCE_NUMBER at the edges of their types: until 0.9 a
-- wait of a million years overflowed into "must not be negative", and the
-- seq after the largest bigint into the smallest
SELECT topics.create_topic('edge_wait', 1);
SELECT count(*) FROM topics.produce('edge_wait', 'a', 'b');
SELECT count(*) FROM topics.fetch('edge_wait', 0, 0, wait => '1000000 years');
SELECT count(*) FROM topics.fetch('edge_wait', 0, 0, wait => '1 month -29 days');
SELECT count(*) FROM topics.fetch('edge_wait', 0, 0, wait => '-1 s');
SELECT topics.get_shard_iterator('edge_wait', 0, 'AFTER_SEQUENCE_NUMBER', 9223372036854775807);
\echo :SQLSTATE
SELECT topics.get_shard_iterator('edge_wait', 0, 'AFTER_SEQUENCE_NUMBER', 5);
\echo :SQLSTATE
SELECT topics.get_shard_iterator('edge_wait', 0, 'AFTER_SEQUENCE_NUMBER', 1);
\echo :SQLSTATE
SELECT topics.get_shard_iterator('edge_wait', 0, 'AT_SEQUENCE_NUMBER', 2);
\echo :SQLSTATE
SELECT count(*) FROM topics.fetch('edge_wait', 0, 2);
\echo :SQLSTATE
-- a mistaken argument is not an offset out of range
SELECT count(*) FROM topics.fetch('edge_wait', 0, 0, -1);
\echo :SQLSTATE
SELECT topics.get_shard_iterator('edge_wait', 0, 'AFTER_SEQUENCE_NUMBER', 0) IS NOT NULL AS after_last;
DROP TABLE edge_wait;

-- Messages with their details, hints and SQLSTATEs (0.13: what the C and
-- the SQL functions say for one condition is worded alike)
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE SCHEMA "Edge Schema";
SELECT topics.create_topic('"Edge Schema"."Odd Topic"', 2);
-- a topic by its name, not its qualified regclass in quotes
SELECT topics.commit('ed_g', '"Edge Schema"."Odd Topic"', 4, 0);
\echo :SQLSTATE
SELECT topics.commit('ed_g', '"Edge Schema"."Odd Topic"', 0, 7);
\echo :SQLSTATE
SELECT * FROM topics.produce('"Edge Schema"."Odd Topic"', 'k', 'v', partition => 4);
\echo :SQLSTATE
CREATE TABLE "Edge Schema".plain (a int);
SELECT topics.drop_topic('"Edge Schema".plain');
\echo :SQLSTATE
SELECT topics.alter_topic('"Edge Schema".plain', retention => '1 day');
\echo :SQLSTATE
ALTER TABLE "Edge Schema"."Odd Topic" ALTER COLUMN key TYPE varchar;
\echo :SQLSTATE
DROP SCHEMA "Edge Schema" CASCADE;
-- NULL and bad arguments
SELECT topics.create_topic('ed_null', NULL);
\echo :SQLSTATE
SELECT topics.create_topic('ed_ret', 1, retention => '-1 day');
\echo :SQLSTATE
SELECT topics.create_topic('ed_ret', 1, retention_bytes => -1);
\echo :SQLSTATE
SELECT topics.create_topic('ed_msg', 1);
SELECT * FROM topics._apply_retention('ed_msg', '-1 day', NULL);
\echo :SQLSTATE
SELECT topics.get_shard_iterator('ed_msg', 0, 'LATEST', 0);
SELECT topics.get_shard_iterator('ed_msg', 0, 'TRIM_HORIZON', at => now());
SELECT topics.get_shard_iterator('ed_msg', 0, 'AT_SEQUENCE_NUMBER', 0, now());
SELECT topics.get_shard_iterator('ed_msg', 0, 'AT_TIMESTAMP');
SELECT topics.get_shard_iterator('ed_msg', 0, 'AT_TIMESTAMP', 0, now());
-- the event trigger functions, called by hand
SELECT topics._guard_ddl();
\echo :SQLSTATE
SELECT topics._guard_index();
\echo :SQLSTATE
-- CREATE TABLE AS makes a topic of one partition: the hint says how to
-- make one with more (there is no topic to alter yet)
CREATE TABLE ed_two (partition int, seq bigint, ts timestamptz, key text, value bytea, headers jsonb);
INSERT INTO ed_two VALUES (1, 0, now(), 'k', 'v', NULL);
CREATE TABLE ed_ctas USING topic_log AS SELECT * FROM ed_two;
\echo :SQLSTATE
-- commit()'s look-up of one partition, called by hand with NULLs
SELECT * FROM topics._partition_position(NULL, 0);
\echo :SQLSTATE
SELECT * FROM topics._partition_position('ed_msg', NULL);
\echo :SQLSTATE
SELECT * FROM topics._partition_position('ed_msg', 5);
-- the key that signs iterators, removed (a new session: a backend reads it
-- once): a clear error and the way to make a new one, not an internal error
\c
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN;
DELETE FROM topics._secret;
SELECT topics.get_shard_iterator('ed_msg', 0, 'TRIM_HORIZON');
\echo :SQLSTATE
ROLLBACK;
SELECT topics.get_shard_iterator('ed_msg', 0, 'TRIM_HORIZON') IS NOT NULL AS iterator_again;
DROP TABLE ed_two, ed_msg;
\set VERBOSITY terse
