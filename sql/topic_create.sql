--
-- topic_create: creating and dropping topics, the topics.topics and
-- topics.partitions views
--
-- Errors raised inside the PL/pgSQL wrappers would print line numbers of the
-- install script; keep the expected output independent of them.
\set SHOW_CONTEXT never

-- default: one partition
SELECT topics.create_topic('tc_one');
-- N partitions
SELECT topics.create_topic('tc_four', 4);
-- the name follows SQL identifier rules: unquoted parts fold to lower case,
-- quoted parts keep case and spaces, schema.name qualifies
SELECT topics.create_topic('TC_Folded');
SELECT topics.create_topic('"TC Mixed Case"', 2);
CREATE SCHEMA tc_schema;
SELECT topics.create_topic('tc_schema.tc_events', 3);
SELECT topics.create_topic('tc_schema."Quoted.Dot"', 1);

-- a topic is a table using topic_log with the fixed record columns
SELECT c.oid::regclass AS topic, a.amname
FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname LIKE 'tc\_%' OR c.relname LIKE 'TC %' OR c.relname = 'Quoted.Dot'
ORDER BY c.relname COLLATE "C";
SELECT attnum, attname, format_type(atttypid, atttypmod) AS type, attnotnull
FROM pg_attribute
WHERE attrelid = 'tc_four'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;

-- topics.topics lists every topic with its partition count
SELECT topic, schema_name, topic_name, partitions, bytes > 0 AS has_bytes
FROM topics.topics
WHERE topic_name IN ('tc_one', 'tc_four', 'tc_folded', 'TC Mixed Case', 'tc_events', 'Quoted.Dot')
ORDER BY schema_name COLLATE "C", topic_name COLLATE "C";

-- topics.partitions: one row per partition, all empty so far
SELECT topic, partition, log_start_seq, next_seq, last_stable_seq, record_count, bytes
FROM topics.partitions
WHERE topic IN ('tc_one'::regclass, 'tc_four'::regclass, 'tc_schema.tc_events'::regclass)
ORDER BY topic::text COLLATE "C", partition;

-- after producing, the partition rows move
SELECT * FROM topics.produce('tc_four', 'a', '\x01'::bytea, NULL, 1);
SELECT * FROM topics.produce('tc_four', 'b', '\x0203'::bytea, NULL, 1);
SELECT * FROM topics.produce('tc_four', 'c', '\x04'::bytea, NULL, 3);
SELECT partition, log_start_seq, next_seq, last_stable_seq, record_count, bytes > 0 AS has_bytes
FROM topics.partitions WHERE topic = 'tc_four'::regclass ORDER BY partition;

-- errors: null name, bad partition counts, duplicates, bad names
SELECT topics.create_topic(NULL);
SELECT topics.create_topic(NULL, 3);
SELECT topics.create_topic('tc_bad', 0);
SELECT topics.create_topic('tc_bad', -1);
SELECT topics.create_topic('tc_bad', NULL);
SELECT topics.create_topic('tc_one');
SELECT topics.create_topic('TC_ONE', 2);
SELECT topics.create_topic('');
SELECT topics.create_topic('tc_no_such_schema.tc_bad');
SELECT topics.create_topic('tc_bad', 10001);
-- none of the failed calls left a table behind
SELECT to_regclass('tc_bad') AS tc_bad;

-- creating a topic is transactional
BEGIN;
SELECT topics.create_topic('tc_rolled_back', 2);
SELECT count(*) FROM topics.partitions WHERE topic::text = 'tc_rolled_back';
ROLLBACK;
SELECT to_regclass('tc_rolled_back') AS tc_rolled_back;

-- a table using topic_log must have exactly the record columns
CREATE TABLE tc_wrong (a integer) USING topic_log;
CREATE TABLE tc_wrong (partition integer, seq bigint, ts timestamptz, key text, value bytea) USING topic_log;
CREATE TABLE tc_wrong (partition integer, seq bigint, ts timestamptz, key text, value text, headers jsonb) USING topic_log;
SELECT to_regclass('tc_wrong') AS tc_wrong;
-- topics are permanent
CREATE TEMP TABLE tc_temp (partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb) USING topic_log;
CREATE UNLOGGED TABLE tc_unlogged (partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb) USING topic_log;
-- CREATE TABLE ... USING topic_log with the exact columns makes a topic
CREATE TABLE tc_direct (partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb) USING topic_log;
SELECT topic, partitions FROM topics.topics WHERE topic_name = 'tc_direct';
SELECT * FROM topics.produce('tc_direct', 'k', 'v');
DROP TABLE tc_direct;

-- drop_topic removes the topic and its partitions
SELECT topics.drop_topic('tc_one');
SELECT to_regclass('tc_one') AS tc_one;
SELECT count(*) FROM topics.topics WHERE topic_name = 'tc_one';
SELECT count(*) FROM topics.partitions WHERE topic::text = 'tc_one';
-- names needing quotes and schema qualification
SELECT topics.drop_topic('"TC Mixed Case"');
SELECT topics.drop_topic('tc_schema."Quoted.Dot"');
SELECT topics.drop_topic('TC_FOLDED');
SELECT count(*) FROM topics.topics
WHERE topic_name IN ('TC Mixed Case', 'Quoted.Dot', 'tc_folded');

-- DROP TABLE does the same
DROP TABLE tc_four;
SELECT count(*) FROM topics.topics WHERE topic_name = 'tc_four';
SELECT count(*) FROM topics.partitions WHERE topic::text = 'tc_four';

-- drop_topic refuses a table that is not a topic, and unknown names
CREATE TABLE tc_plain (a integer);
SELECT topics.drop_topic('tc_plain');
SELECT to_regclass('tc_plain') AS tc_plain;
DROP TABLE tc_plain;
SELECT topics.drop_topic('tc_no_such_topic');

-- a dropped name can be created again, and starts from seq 0
SELECT topics.create_topic('tc_one', 2);
SELECT * FROM topics.produce('tc_one', NULL, 'x', NULL, 1);
SELECT partition, next_seq FROM topics.partitions WHERE topic = 'tc_one'::regclass ORDER BY partition;
SELECT topics.drop_topic('tc_one');

-- DROP SCHEMA ... CASCADE drops the topics in it
DROP SCHEMA tc_schema CASCADE;
SELECT count(*) FROM topics.topics WHERE schema_name = 'tc_schema';

-- Adding partitions goes with the transaction: until 0.9 the topic kept its
-- new partitions after a ROLLBACK while the count pg_dump carries (the
-- n_distinct option of column partition) rolled back, and a dump could not
-- restore the records produced to them since
SELECT topics.create_topic('tc_grow', 2);
BEGIN;
SELECT topics.alter_topic('tc_grow', partitions => 4);
SELECT count(*) AS partitions_in_the_transaction FROM topics.partition_bounds('tc_grow');
SELECT * FROM topics.produce('tc_grow', 'k', 'v', partition => 3);
ROLLBACK;
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_grow');
SELECT o.option_value AS n_distinct
FROM pg_attribute a, pg_options_to_table(a.attoptions) o
WHERE a.attrelid = 'tc_grow'::regclass AND a.attname = 'partition' AND o.option_name = 'n_distinct';
SELECT * FROM topics.produce('tc_grow', 'k', 'v', partition => 3);
BEGIN;
SAVEPOINT s;
SELECT topics.alter_topic('tc_grow', partitions => 5);
ROLLBACK TO SAVEPOINT s;
SELECT topics.alter_topic('tc_grow', partitions => 3);
COMMIT;
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_grow');
SELECT o.option_value AS n_distinct
FROM pg_attribute a, pg_options_to_table(a.attoptions) o
WHERE a.attrelid = 'tc_grow'::regclass AND a.attname = 'partition' AND o.option_name = 'n_distinct';
SELECT partition, seq FROM topics.produce('tc_grow', 'k', 'v', partition => 2);
DROP TABLE tc_grow;
-- and the count a dump carries cannot be reset or lowered by hand
SELECT topics.create_topic('tc_nd', 3);
ALTER TABLE tc_nd ALTER COLUMN partition RESET (n_distinct);
ALTER TABLE tc_nd ALTER COLUMN partition SET (n_distinct = 2);
ALTER TABLE tc_nd ALTER COLUMN partition SET (n_distinct = 4);
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_nd');
DROP TABLE tc_nd;
-- several growths in one transaction: the count at commit is the largest,
-- and a smaller one after a larger is refused at once (not at the commit,
-- after the larger was written); a growth of a topic made earlier in the
-- transaction is undone by a rollback to a savepoint, like its n_distinct
SELECT topics.create_topic('tc_g2', 2);
BEGIN;
SELECT topics.alter_topic('tc_g2', partitions => 5);
SELECT topics.alter_topic('tc_g2', partitions => 3);
ROLLBACK;
BEGIN;
SELECT topics.alter_topic('tc_g2', partitions => 5);
SAVEPOINT s;
SELECT topics.alter_topic('tc_g2', partitions => 4);
ROLLBACK TO SAVEPOINT s;
SELECT topics.alter_topic('tc_g2', partitions => 6);
RELEASE SAVEPOINT s;
COMMIT;
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_g2');
SELECT o.option_value AS n_distinct
FROM pg_attribute a, pg_options_to_table(a.attoptions) o
WHERE a.attrelid = 'tc_g2'::regclass AND a.attname = 'partition' AND o.option_name = 'n_distinct';
DO $$
BEGIN
    PERFORM topics.create_topic('tc_g3', 1);
    BEGIN
        PERFORM topics.alter_topic('tc_g3', partitions => 3);
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
END
$$;
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_g3');
ALTER TABLE tc_g3 ALTER COLUMN partition SET (n_distinct = 1.5);
ALTER TABLE tc_g3 ALTER COLUMN partition SET (n_distinct = 10001);
ALTER TABLE tc_g3 OWNER TO CURRENT_USER;
DROP TABLE tc_g2, tc_g3;
-- The growth is written at the commit but counts only once the transaction
-- has committed: an error after its WAL record (as when another step of the
-- commit fails) leaves the old count, and so does a crash (TAP 026).  Until
-- 0.16 the topic kept the new partitions, which the catalog's count did not
-- have.  Also past 169 partitions, where the growth adds state pages.
SELECT topics.create_topic('tc_g4', 2);
SELECT topics.create_topic('tc_g5', 100);
SET pg_topics.debug_fail_in_growth = 'error';
SELECT topics.alter_topic('tc_g4', partitions => 4);
SELECT topics.alter_topic('tc_g5', partitions => 400);
RESET pg_topics.debug_fail_in_growth;
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_g4');
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_g5');
SELECT * FROM topics.produce('tc_g4', 'k', 'v', partition => 3);
SELECT * FROM topics.produce('tc_g5', 'k', 'v', partition => 399);
-- VACUUM folds the failed growth away; growing again reuses its state pages
VACUUM tc_g4, tc_g5;
SELECT count(*) AS partitions FROM topics.partition_bounds('tc_g5');
SELECT pg_relation_size('tc_g5') / 8192 AS blocks_before \gset
SELECT topics.alter_topic('tc_g4', partitions => 4);
SELECT topics.alter_topic('tc_g5', partitions => 400);
SELECT pg_relation_size('tc_g5') / 8192 - :blocks_before AS blocks_added;
SELECT partition, seq FROM topics.produce('tc_g4', 'k', 'v', partition => 3);
SELECT partition, seq FROM topics.produce('tc_g5', 'k', 'v', partition => 399);
VACUUM tc_g4, tc_g5;
SELECT count(*) AS partitions, sum(record_count) AS records
FROM topics.partitions WHERE topic IN ('tc_g4'::regclass, 'tc_g5'::regclass);
-- the failure hook is a superuser's
CREATE ROLE regress_tc_nobody;
SET ROLE regress_tc_nobody;
SET pg_topics.debug_fail_in_growth = 'crash';
RESET ROLE;
DROP ROLE regress_tc_nobody;
DROP TABLE tc_g4, tc_g5;
