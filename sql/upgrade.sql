--
-- ALTER EXTENSION pg_topics UPDATE: a database created with version 0.1
-- keeps its topics, records and consumer positions, and gains retention
-- (0.2), a consume that goes on at the log start when retention races it
-- (0.3), one whose first call in a new group does not wait for another
-- member's (0.4), one that moves records in C, going on at the log start
-- without a subtransaction (0.5), and the guard that keeps topics out of
-- publications (0.6), which since 0.7 also sees topics moved into a
-- published schema or made from a table, and a consume that goes on to the
-- next partition when one has nothing to read yet (0.8), functions that
-- search pg_catalog only (0.9), tables of the extension that no role
-- but their owner can lock (0.10), and a CREATE INDEX guard that runs
-- before the command, and a consume that makes its group again at every
-- look (0.11), and the truncation points a dump carries, filled in for
-- partitions that an earlier TRUNCATE left empty (0.12), and messages of
-- the SQL functions worded as the C functions word them (0.13), a
-- SQLSTATE of its own for a position outside a partition's log (0.14), and
-- a consumer group that says it cannot move in a read-only transaction
-- (0.15), and views that run with the caller's rights and a commit whose
-- negative seq is a mistaken argument (0.16).  (0.17 changed only the
-- library.)  Groups have owners since 0.18; those made before stay open to
-- every reader of their topic.  consume is in C since 0.19.
--
\set VERBOSITY terse
\set regress_db :DBNAME
CREATE DATABASE pg_topics_upgrade;
\c pg_topics_upgrade
CREATE EXTENSION pg_topics VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'pg_topics';
SELECT topics.create_topic('up_orders', 3);
SELECT count(*) FROM topics.produce_batch('up_orders',
    ARRAY(SELECT 'key' || g FROM generate_series(1, 300) g),
    ARRAY(SELECT 'value' || g FROM generate_series(1, 300) g));
SELECT count(*) FROM topics.consume('up_group', 'up_orders', 50);
-- a publication that names a topic, made before 0.6, which could not refuse it
SET client_min_messages = error;    -- not the wal_level warning
CREATE PUBLICATION up_old_pub FOR TABLE up_orders;
RESET client_min_messages;
CREATE TEMP TABLE before AS
SELECT partition, seq, key, value FROM up_orders;
-- 0.1 has no retention
SELECT topics.create_topic('up_new', 1, retention => '1 day');
-- a TRUNCATE leaves partition 0 empty at seq 5, partition 1 at 3 with a
-- record, partition 2 at 5 with only a rolled-back record after it
SELECT topics.create_topic('up_trunc', 3);
SELECT count(*) FROM topics.produce_batch('up_trunc', array_fill('k'::text, ARRAY[5]),
    array_fill('v'::text, ARRAY[5]), partition => 0);
SELECT count(*) FROM topics.produce_batch('up_trunc', array_fill('k'::text, ARRAY[2]),
    array_fill('v'::text, ARRAY[2]), partition => 1);
SELECT count(*) FROM topics.produce_batch('up_trunc', array_fill('k'::text, ARRAY[4]),
    array_fill('v'::text, ARRAY[4]), partition => 2);
TRUNCATE up_trunc;
SELECT * FROM topics.produce('up_trunc', 'k', 'after', partition => 1);
BEGIN;
SELECT * FROM topics.produce('up_trunc', 'k', 'rolled back', partition => 2);
ROLLBACK;

-- a group that outlives the update (up_group is deleted below), and
-- positions stored by hand without a group
SELECT topics.commit('up_kept', 'up_orders', 0, 3);
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq) VALUES ('up_bare', 'up_orders', 1, 2);

ALTER EXTENSION pg_topics UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_topics';
-- 0.20: the comments of seq_at_time and get_records say what they return,
-- as a fresh install's do
SELECT obj_description('topics.seq_at_time(regclass, integer, timestamptz)'::regprocedure, 'pg_proc')
       LIKE '%(the last stable offset when none)%' AS seq_at_time_comment,
       obj_description('topics.get_records(text, integer, interval)'::regprocedure, 'pg_proc')
       LIKE '%newest record readable now%' AS get_records_comment;

-- the consume of 0.19 is in place: in C (0.5 moved its records in C, 0.8
-- went on to the next partition, 0.19 the whole call), its look at the
-- group in PL/pgSQL (with 0.4's advisory lock to join a group)
SELECT c.prosrc = 'pg_topics_consume' AND l.lanname = 'c' AS consume_in_c,
       look.prosrc NOT LIKE '%EXCEPTION WHEN%' AS consume_without_subtransaction,
       look.prosrc LIKE '%pg_try_advisory_xact_lock%' AS consume_does_not_wait_to_join,
       look.prosrc LIKE '%candidates := ARRAY(%' AS consume_tries_the_next_partition
FROM pg_proc c JOIN pg_language l ON l.oid = c.prolang, pg_proc look
WHERE c.oid = 'topics.consume(text, regclass, integer, interval)'::regprocedure
  AND look.oid = 'topics._consume_look(text, regclass, boolean, boolean)'::regprocedure;

-- records and positions are untouched
SELECT count(*) AS same_records FROM before b JOIN up_orders o USING (partition, seq, key, value);
SELECT (SELECT count(*) FROM up_orders) AS records;
SELECT partition, seq FROM topics.committed('up_group', 'up_orders') ORDER BY partition;
-- 0.12: positions stored before note a partition count of 0, so their
-- groups keep the rule of 0.11 (a partition without a position starts at
-- its log start)
SELECT DISTINCT group_id, topic, topic_partitions FROM topics.committed_offsets ORDER BY 1, 2;
-- the partition count is now recorded where pg_dump carries it
SELECT attoptions::text LIKE '%n_distinct=3%' AS recorded
FROM pg_attribute WHERE attrelid = 'up_orders'::regclass AND attname = 'partition';
-- new functions work on the old topic
SELECT topics.alter_topic('up_orders', retention_bytes => 1000000);
SELECT topic, partitions, retention_bytes, cleanup_policy FROM topics.topics ORDER BY topic::text;
SELECT count(*) FROM topics.maintain('up_orders');
SELECT count(*) FROM topics.produce_batch('up_orders', ARRAY['a', 'b'], ARRAY['1', '2']);
SELECT topics.create_topic('up_new', 1, retention => '1 day');
SELECT topic, retention FROM topics.topic_config ORDER BY topic::text;
-- the new consume goes on where the old one left the group: 50 records
-- consumed before the update, 50 more now, each counted once
SELECT count(*) FROM topics.consume('up_group', 'up_orders', 50);
SELECT sum(seq) AS positions_sum FROM topics.committed('up_group', 'up_orders');
-- the 0.6 publication guard is in place: the update warned of up_old_pub
-- (above), and a new publication may not name a topic
CREATE PUBLICATION up_pub FOR TABLE up_orders;
SELECT count(*) FROM pg_publication WHERE pubname = 'up_pub';
ALTER PUBLICATION up_old_pub DROP TABLE up_orders;
SELECT count(*) AS topics_published FROM pg_publication_tables WHERE pubname = 'up_old_pub';
DROP PUBLICATION up_old_pub;
-- the 0.7 guard also sees a topic moved into a published schema
CREATE SCHEMA up_s;
SET client_min_messages = error;    -- not the wal_level warning
CREATE PUBLICATION up_schema_pub FOR TABLES IN SCHEMA up_s;
RESET client_min_messages;
ALTER TABLE up_new SET SCHEMA up_s;
SELECT evtname, evttags FROM pg_event_trigger
WHERE evtname = 'pg_topics_guard_publication';
-- 0.9: every function in SQL searches pg_catalog only, except the
-- create_topic wrapper, which reads the caller's current schema and
-- calls nothing by an unqualified name
SELECT p.oid::regprocedure AS without_pinned_search_path
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'topics'::regnamespace AND l.lanname <> 'c'
  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
ORDER BY 1::text;
-- and a topic made now goes where CREATE TABLE would put it
SET search_path = up_s, public;
SELECT topics.create_topic('up_new2', 1);
RESET search_path;
-- 0.10: PUBLIC reads the extension's relations and writes the settings
-- and positions by column privileges only (a table-level UPDATE or DELETE
-- lets LOCK TABLE take any lock)
SELECT c.relname, a.privilege_type
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'topics'::regnamespace AND a.grantee = 0
ORDER BY 1, 2;
SELECT c.relname, a.privilege_type, count(*) AS columns
FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid, aclexplode(t.attacl) a
WHERE c.relnamespace = 'topics'::regnamespace AND a.grantee = 0
GROUP BY 1, 2 ORDER BY 1, 2;
-- and the positions of a group written before the update are deleted with it
SELECT topics.delete_consumer_group('up_group', 'up_orders');
SELECT count(*) FROM topics.committed('up_group', 'up_orders');

-- 0.11: CREATE INDEX on a topic is refused at ddl_command_start, before
-- CREATE INDEX CONCURRENTLY commits an index it cannot build
SELECT evtname, evtevent, evttags FROM pg_event_trigger WHERE evtname = 'pg_topics_guard_index';
CREATE INDEX CONCURRENTLY up_orders_key ON up_orders (key);
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'up_orders'::regclass;
SELECT prosrc LIKE '%at every look%' AS consume_makes_the_group_at_every_look
FROM pg_proc WHERE oid = 'topics._consume_look(text, regclass, boolean, boolean)'::regprocedure;

-- 0.12: the update recorded the points of the partitions TRUNCATE left
-- without records (the other's record carries its seqs), and TRUNCATE
-- records them now
SELECT topic, partition, next_seq FROM topics.truncation_points ORDER BY 1, 2;
TRUNCATE up_trunc;
SELECT topic, partition, next_seq FROM topics.truncation_points ORDER BY 1, 2;

-- 0.13: a topic by its name in the SQL functions' messages, as in the C
-- functions' (they said "public.up_orders", in quotes)
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT topics.commit('up_group', 'up_orders', 7, 0);
CREATE TABLE up_plain (a int);
SELECT topics.drop_topic('up_plain');
\set VERBOSITY terse

-- 0.14: commit's position out of range is 22T01, as fetch's is
SELECT topics.commit('up_group', 'up_orders', 0, 1000000);
\echo :SQLSTATE
SELECT count(*) FROM topics.fetch('up_orders', 0, 1000000);
\echo :SQLSTATE

-- 0.15: consume in a read-only transaction says what it cannot do
BEGIN READ ONLY;
SELECT count(*) FROM topics.consume('up_group', 'up_orders');
ROLLBACK;
SELECT provolatile FROM pg_proc WHERE oid = 'topics._check_group_id(text)'::regprocedure;

-- 0.16: the views run with the caller's rights; a negative seq is 22023
SELECT c.relname, c.reloptions FROM pg_class c
WHERE c.relnamespace = 'topics'::regnamespace AND c.relkind = 'v' ORDER BY c.relname;
SELECT topics.commit('up_group', 'up_orders', 0, -1);
\echo :SQLSTATE
SELECT count(*) > 0 AS listed FROM topics.topics WHERE topic = 'up_orders'::regclass;

-- 0.18: a group made before has no owner and stays open to every reader
-- of the topic; one made now belongs to its maker
CREATE ROLE regress_pgt_up_reader;
GRANT SELECT ON up_orders TO regress_pgt_up_reader;
SELECT topics.commit('up_made_now', 'up_orders', 0, 1);
-- (the bare positions got an open group: a position needs its group's row)
SELECT group_id, owner IS NULL AS open, owner::text = current_user AS mine
FROM topics.consumer_groups WHERE group_id LIKE 'up_%' ORDER BY 1;
SET ROLE regress_pgt_up_reader;
SELECT topics.commit('up_kept', 'up_orders', 0, 4);
SELECT topics.commit('up_bare', 'up_orders', 1, 3);
SELECT topics.commit('up_made_now', 'up_orders', 0, 4);
\echo :SQLSTATE
RESET ROLE;
SELECT partition, seq FROM topics.committed('up_kept', 'up_orders') ORDER BY partition;
DROP OWNED BY regress_pgt_up_reader;
DROP ROLE regress_pgt_up_reader;

\c :regress_db
DROP DATABASE pg_topics_upgrade;

-- 0.19: consume calls its look (topics._consume_look, new) as its caller,
-- through fmgr: EXECUTE on consume is what it takes, as before.  In a
-- database whose functions are not PUBLIC's by default, the role that was
-- granted the extension's functions keeps consuming after the update, as
-- does one granted them without the look (a restore into such a database
-- gives it no grant on the look), and a role may not call the look itself
-- without EXECUTE on it.
CREATE DATABASE pg_topics_upgrade_acl;
\c pg_topics_upgrade_acl
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
CREATE EXTENSION pg_topics VERSION '0.18';
CREATE ROLE regress_pgt_up_app;
CREATE ROLE regress_pgt_up_other;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA topics TO regress_pgt_up_app;
SELECT topics.create_topic('up_acl', 1);
GRANT SELECT ON up_acl TO regress_pgt_up_app, regress_pgt_up_other;
SELECT partition, seq FROM topics.produce('up_acl', 'k', 'v'::text);
ALTER EXTENSION pg_topics UPDATE;
SET ROLE regress_pgt_up_app;
SELECT partition, seq, value FROM topics.consume('up_app', 'up_acl', 10);
RESET ROLE;
SET ROLE regress_pgt_up_other;
SELECT topics._consume_look('up_other', 'up_acl', true, false);
RESET ROLE;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA topics TO regress_pgt_up_other;
REVOKE EXECUTE ON FUNCTION topics._consume_look(text, regclass, boolean, boolean) FROM regress_pgt_up_other;
SET ROLE regress_pgt_up_other;
SELECT partition, seq, value FROM topics.consume('up_other', 'up_acl', 10);
RESET ROLE;
\c :regress_db
DROP DATABASE pg_topics_upgrade_acl;
DROP ROLE regress_pgt_up_app;
DROP ROLE regress_pgt_up_other;
