--
-- privileges: produce needs INSERT on the topic, fetch needs SELECT
--
CREATE ROLE regress_pgt_priv_none;
CREATE ROLE regress_pgt_priv_writer;
CREATE ROLE regress_pgt_priv_reader;
SELECT topics.create_topic('pv_t', 2);
SELECT * FROM topics.produce('pv_t', 'seed', 'seed', NULL, 0);
GRANT INSERT ON pv_t TO regress_pgt_priv_writer;
GRANT SELECT ON pv_t TO regress_pgt_priv_reader;

-- no privileges at all
SET ROLE regress_pgt_priv_none;
SELECT * FROM topics.produce('pv_t', 'k', 'v', NULL, 0);
\echo :SQLSTATE
SELECT * FROM topics.produce('pv_t', 'k', 'v'::bytea);
\echo :SQLSTATE
SELECT * FROM topics.produce_batch('pv_t', ARRAY['k'], ARRAY['v']::text[]);
\echo :SQLSTATE
SELECT * FROM topics.produce_batch('pv_t', ARRAY[]::text[], ARRAY[]::text[]);
\echo :SQLSTATE
INSERT INTO pv_t (key, value) VALUES ('k', '\x00');
\echo :SQLSTATE
COPY pv_t (key, value) FROM STDIN;
k	\\x00
\.
\echo :SQLSTATE
SELECT * FROM topics.fetch('pv_t', 0, 0);
\echo :SQLSTATE
SELECT count(*) FROM pv_t;
\echo :SQLSTATE
SELECT count(*) FROM topics.partitions WHERE topic::text = 'pv_t';
SELECT count(*) FROM topics.topics WHERE topic_name = 'pv_t';
SELECT * FROM topics.partition_info('pv_t');
\echo :SQLSTATE
-- only a superuser changes the record size limit
SET pg_topics.max_record_bytes = 10;
\echo :SQLSTATE
-- nor can it drop or truncate the topic
\set SHOW_CONTEXT never
SELECT topics.drop_topic('pv_t');
\echo :SQLSTATE
\set SHOW_CONTEXT errors
TRUNCATE pv_t;
\echo :SQLSTATE
RESET ROLE;

-- INSERT only: produce works, reading does not
SET ROLE regress_pgt_priv_writer;
SELECT * FROM topics.produce('pv_t', 'writer', 'w1', NULL, 0);
SELECT * FROM topics.produce('pv_t', 'writer', 'w2'::bytea, '{"by": "writer"}', 1);
SELECT * FROM topics.produce_batch('pv_t', ARRAY['writer', 'writer'], ARRAY['w3', 'w4']::text[], NULL, 1);
INSERT INTO pv_t (partition, key, value) VALUES (0, 'writer', 'w5');
COPY pv_t (partition, key, value) FROM STDIN;
0	writer	w6
\.
SELECT * FROM topics.fetch('pv_t', 0, 0);
\echo :SQLSTATE
SELECT count(*) FROM pv_t;
\echo :SQLSTATE
SELECT count(*) FROM topics.partitions WHERE topic::text = 'pv_t';
RESET ROLE;

-- SELECT only: fetch and the views work, producing does not
SET ROLE regress_pgt_priv_reader;
SELECT partition, seq, key, convert_from(value, 'UTF8') AS value, headers FROM topics.fetch('pv_t', 0, 0);
SELECT partition, seq, key, convert_from(value, 'UTF8') AS value, headers FROM topics.fetch('pv_t', 1, 0);
SELECT partition, next_seq, record_count FROM topics.partitions WHERE topic = 'pv_t'::regclass ORDER BY partition;
SELECT partition, next_seq FROM topics.partition_info('pv_t') ORDER BY partition;
SELECT topic, partitions FROM topics.topics WHERE topic_name = 'pv_t';
SELECT * FROM topics.produce('pv_t', 'reader', 'r', NULL, 0);
\echo :SQLSTATE
SELECT * FROM topics.produce_batch('pv_t', ARRAY['reader'], ARRAY['r']::bytea[]);
\echo :SQLSTATE
INSERT INTO pv_t (key, value) VALUES ('reader', 'r');
\echo :SQLSTATE
RESET ROLE;

-- privileges granted through a role count as well
GRANT regress_pgt_priv_writer TO regress_pgt_priv_none;
SET ROLE regress_pgt_priv_none;
SELECT * FROM topics.produce('pv_t', 'member', 'm', NULL, 1);
RESET ROLE;
REVOKE regress_pgt_priv_writer FROM regress_pgt_priv_none;
-- and revoking takes effect
REVOKE INSERT ON pv_t FROM regress_pgt_priv_writer;
SET ROLE regress_pgt_priv_writer;
SELECT * FROM topics.produce('pv_t', 'writer', 'revoked', NULL, 0);
\echo :SQLSTATE
RESET ROLE;

SELECT partition, seq, key, convert_from(value, 'UTF8') AS value FROM pv_t ORDER BY partition, seq;

-- consume's wait helpers tell when producers commit: they need SELECT too
-- (until 0.9 anybody could count and wait for a topic's commits)
SET ROLE regress_pgt_priv_none;
SELECT topics._wait_generation('pv_t') >= 0;
\echo :SQLSTATE
SELECT topics._wait_for_records('pv_t', 0, now());
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_pgt_priv_reader;
SELECT topics._wait_generation('pv_t') >= 0;
RESET ROLE;

-- settings and group positions name topics only: until 0.9 the owner of
-- any table could store settings for it, which made maintain() fail for
-- every topic of the database, and any reader a position, which made
-- topics.consumer_lag fail for everybody
CREATE TABLE pv_plain (x int);
GRANT SELECT ON pv_plain TO regress_pgt_priv_reader;
ALTER TABLE pv_plain OWNER TO regress_pgt_priv_reader;
SET ROLE regress_pgt_priv_reader;
INSERT INTO topics.topic_config (topic, retention) VALUES ('pv_plain', '1 day');
\echo :SQLSTATE
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq) VALUES ('pv_g', 'pv_plain', 0, 0);
\echo :SQLSTATE
INSERT INTO topics.consumer_groups (group_id, topic) VALUES ('pv_g', 'pv_plain');
\echo :SQLSTATE
SELECT topics.commit('pv_g', 'pv_t', 0, 1);
-- the settings of a topic are for its readers
SELECT count(*) FROM topics.topic_config WHERE topic = 'pv_t'::regclass;
RESET ROLE;
SELECT topics.alter_topic('pv_t', retention => '1 day');
SET ROLE regress_pgt_priv_reader;
SELECT retention FROM topics.topic_config WHERE topic = 'pv_t'::regclass;
RESET ROLE;
SET ROLE regress_pgt_priv_none;
SELECT count(*) FROM topics.topic_config WHERE topic = 'pv_t'::regclass;
RESET ROLE;
-- rows stored before 0.9 (a superuser is not held to the policies) are
-- left out: maintain() and consumer_lag go on
INSERT INTO topics.topic_config (topic, retention) VALUES ('pv_plain', '1 day');
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq) VALUES ('pv_g', 'pv_plain', 0, 0);
SELECT topic, partition, pages_removed FROM topics.maintain() WHERE topic = 'pv_t'::regclass ORDER BY partition;
SELECT group_id, topic, partition, committed_seq FROM topics.consumer_lag WHERE group_id = 'pv_g';
SELECT count(*) FROM topics.maintain('pv_plain');
DELETE FROM topics.topic_config WHERE topic = 'pv_plain'::regclass;
DELETE FROM topics.committed_offsets WHERE topic = 'pv_plain'::regclass;
DROP TABLE pv_plain;

-- create_topic, alter_topic and drop_topic search pg_catalog only: a
-- better-matching format(text, text) in a schema on the caller's
-- search_path is not called (until 0.9 it ran as the caller)
CREATE SCHEMA pv_trap;
CREATE FUNCTION pv_trap.format(f text, a text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'pv_trap.format called';
    RETURN pg_catalog.format(f, a);
END $$;
SET search_path = pv_trap, public;
SELECT topics.create_topic('pv_trapped', 1);
SELECT topics.alter_topic('pv_trapped', partitions => 2);
SELECT to_regclass('pv_trap.pv_trapped') AS created_in_the_current_schema;
SELECT topics.drop_topic('pv_trapped');
RESET search_path;
DROP SCHEMA pv_trap CASCADE;

-- only the owner locks the extension's tables (since 0.10): PUBLIC's
-- UPDATE and DELETE on them let any role LOCK them, directly or through a
-- view, and hold up every consume, commit and DROP TABLE; ACCESS SHARE,
-- which SELECT allows, is left.  Readers still write positions (column
-- privileges): consume, which locks its rows FOR UPDATE, commit, UPDATE
SET ROLE regress_pgt_priv_reader;
BEGIN;
LOCK TABLE topics.committed_offsets IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE topics.consumer_groups IN SHARE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE topics.topic_config IN ROW EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE topics.committed_offsets IN ACCESS SHARE MODE;
ROLLBACK;
CREATE TEMP VIEW pv_offsets AS SELECT * FROM topics.committed_offsets;
BEGIN;
LOCK TABLE pv_offsets IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
DROP VIEW pv_offsets;
DELETE FROM topics.consumer_groups;
SELECT count(*) FROM topics.consume('pv_g2', 'pv_t');
SELECT topics.commit('pv_g2', 'pv_t', 1, 0);
UPDATE topics.committed_offsets SET seq = 0 WHERE group_id = 'pv_g2' AND partition = 0;
SELECT topics.set_auto_offset_reset('pv_g2', 'pv_t', 'latest');
SELECT partition, seq FROM topics.committed('pv_g2', 'pv_t') ORDER BY partition;
-- a group is deleted with delete_consumer_group, by its topic's readers
SELECT topics.delete_consumer_group('pv_g2', 'pv_t');
SELECT topics.delete_consumer_group('pv_g2', 'pv_t');
-- (its positions go; its "latest" setting stays, since 0.12)
SELECT auto_offset_reset FROM topics.consumer_groups WHERE group_id = 'pv_g2';
SELECT count(*) FROM topics.committed_offsets WHERE group_id = 'pv_g2';
RESET ROLE;
SELECT topics.commit('pv_g3', 'pv_t', 0, 1);
SET ROLE regress_pgt_priv_none;
SELECT topics.delete_consumer_group('pv_g3', 'pv_t');
RESET ROLE;
SELECT topics.delete_consumer_group(NULL, 'pv_t');
SELECT topics.delete_consumer_group('pv_g3', 'pg_class');
SELECT topics.delete_consumer_group('pv_g3', 'pv_t');

-- Explicit seqs are the owner's (since 0.16): a seq taken is never handed
-- out again, so a role that may only insert could use up a partition's
-- seqs with one rolled-back INSERT and stop its producers for good
GRANT INSERT ON pv_t TO regress_pgt_priv_writer;
SET ROLE regress_pgt_priv_writer;
BEGIN;
INSERT INTO pv_t (partition, seq, key) VALUES (1, 9223372036854710271, 'x');
\echo :SQLSTATE
ROLLBACK;
COPY pv_t (partition, seq, key) FROM stdin;
1	9223372036854710271	x
\.
INSERT INTO pv_t (partition, seq, key) VALUES (1, NULL, 'assigned');
RESET ROLE;
SELECT * FROM topics.partition_bounds('pv_t') ORDER BY partition;
SELECT * FROM topics.produce('pv_t', 'k', 'after', NULL, 1);
-- the owner (and a superuser) still may: restoring a dump
CREATE ROLE regress_pgt_priv_owner;
CREATE TABLE pv_own (LIKE pv_t) USING topic_log;
ALTER TABLE pv_own OWNER TO regress_pgt_priv_owner;
SET ROLE regress_pgt_priv_owner;
INSERT INTO pv_own (partition, seq, key) VALUES (0, 5, 'restored') RETURNING partition, seq;
RESET ROLE;
DROP TABLE pv_own;
DROP ROLE regress_pgt_priv_owner;

-- SELECT on a topic in a schema the role may not use does not open it
-- through an OID either (since 0.16), and the views leave it out
CREATE SCHEMA pv_hidden;
SELECT topics.create_topic('pv_hidden.secret', 1, retention => '7 days');
INSERT INTO pv_hidden.secret (key, value) VALUES ('k', 'hidden');
GRANT SELECT ON pv_hidden.secret TO regress_pgt_priv_reader;
SELECT 'pv_hidden.secret'::regclass::oid AS secret_oid \gset
SET ROLE regress_pgt_priv_reader;
SELECT count(*) FROM pv_hidden.secret;
SELECT count(*) FROM topics.fetch(:secret_oid, 0, 0);
\echo :SQLSTATE
SELECT count(*) FROM topics.partition_info(:secret_oid);
SELECT topics.get_shard_iterator(:secret_oid, 0, 'TRIM_HORIZON') IS NOT NULL;
SELECT count(*) FROM topics.topics WHERE topic = :secret_oid;
SELECT count(*) FROM topics.partitions WHERE topic = :secret_oid;
RESET ROLE;
-- nor do the extension's tables show or take its rows
SELECT topics.commit('pv_hidden_g', 'pv_hidden.secret', 0, 1);
SET ROLE regress_pgt_priv_reader;
SELECT count(*) FROM topics.topic_config WHERE topic = :secret_oid;
SELECT count(*) FROM topics.committed_offsets WHERE topic = :secret_oid;
SELECT count(*) FROM topics.consumer_groups WHERE topic = :secret_oid;
UPDATE topics.committed_offsets SET seq = 0 WHERE topic = :secret_oid;
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq) VALUES ('pv_evil', :secret_oid, 0, 0);
\echo :SQLSTATE
RESET ROLE;
SELECT group_id, seq FROM topics.committed_offsets WHERE topic = :secret_oid;
-- an owner that lost USAGE on the schema still maintains its topic, as
-- VACUUM would (ownership alone needs no USAGE)
CREATE ROLE regress_pgt_priv_owner2;
GRANT USAGE, CREATE ON SCHEMA pv_hidden TO regress_pgt_priv_owner2;
SET ROLE regress_pgt_priv_owner2;
SELECT topics.create_topic('pv_hidden.owned', 1, retention => '1 day');
RESET ROLE;
REVOKE USAGE, CREATE ON SCHEMA pv_hidden FROM regress_pgt_priv_owner2;
SET ROLE regress_pgt_priv_owner2;
SELECT topic, partition FROM topics.maintain();
SELECT count(*) FROM topics.fetch('pv_hidden.owned'::regclass, 0, 0);
RESET ROLE;
SELECT topics.drop_topic('pv_hidden.owned');
DROP ROLE regress_pgt_priv_owner2;
GRANT USAGE ON SCHEMA pv_hidden TO regress_pgt_priv_reader;
SET ROLE regress_pgt_priv_reader;
SELECT count(*) FROM topics.fetch(:secret_oid, 0, 0);
SELECT partitions, retention FROM topics.topics WHERE topic = :secret_oid;
RESET ROLE;

-- topics.topics runs with the caller's rights (since 0.16): a leaky
-- function in the caller's WHERE clause sees no settings of a topic the
-- caller may not read (before, the view read topic_config as its owner)
-- (STRICT, so the planner makes the view's outer join to topic_config an
-- inner one and filters its scan with the function)
CREATE FUNCTION pv_leak(interval) RETURNS boolean LANGUAGE plpgsql STRICT COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'saw retention %', $1;
    RETURN true;
END;
$$;
SET ROLE regress_pgt_priv_none;
SET enable_nestloop = off;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM topics.topics WHERE pv_leak(retention);
RESET enable_nestloop;
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET ROLE;
DROP FUNCTION pv_leak(interval);
SELECT topics.drop_topic('pv_hidden.secret');
DROP SCHEMA pv_hidden;

-- Consumer groups have owners (since 0.18; Kafka's group ACLs): before, any
-- reader of a topic could consume as, commit, reset or delete every group
-- on it.  A group belongs to the role that made it; roles with its
-- privileges, and the topic's owner, may move it; every reader sees it.
CREATE ROLE regress_pgt_grp_a;
CREATE ROLE regress_pgt_grp_b;
CREATE ROLE regress_pgt_grp_team;
GRANT regress_pgt_grp_team TO regress_pgt_grp_b;
GRANT SELECT ON pv_t TO regress_pgt_grp_a, regress_pgt_grp_b;
SELECT count(*) FROM topics.produce_batch('pv_t', array_fill('k'::text, ARRAY[4]),
    array_fill('v'::text, ARRAY[4]), partition => 1);
SET ROLE regress_pgt_grp_a;
SELECT count(*) FROM topics.consume('pv_owned', 'pv_t');
SELECT group_id, owner FROM topics.consumer_groups WHERE group_id = 'pv_owned';
RESET ROLE;
SELECT partition, seq FROM topics.committed('pv_owned', 'pv_t') ORDER BY partition;
\set SHOW_CONTEXT never
SET ROLE regress_pgt_grp_b;
SELECT count(*) FROM topics.consume('pv_owned', 'pv_t');
SELECT topics.commit('pv_owned', 'pv_t', 0, 0);
\echo :SQLSTATE
SELECT topics.set_auto_offset_reset('pv_owned', 'pv_t', 'latest');
\echo :SQLSTATE
SELECT topics.delete_consumer_group('pv_owned', 'pv_t');
\echo :SQLSTATE
SELECT topics.set_consumer_group_owner('pv_owned', 'pv_t', 'regress_pgt_grp_b');
\echo :SQLSTATE
-- nor by hand: the rows it may not move are not there to update, and new
-- ones are refused
UPDATE topics.committed_offsets SET seq = 0 WHERE group_id = 'pv_owned';
UPDATE topics.consumer_groups SET auto_offset_reset = 'latest' WHERE group_id = 'pv_owned' RETURNING group_id;
UPDATE topics.consumer_groups SET owner = 'regress_pgt_grp_b' WHERE group_id = 'pv_owned';
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq) VALUES ('pv_owned', 'pv_t', 2, 0);
\echo :SQLSTATE
-- nor through consume's internal half, whose move the policies refuse:
-- the records it read go back with an error (they were returned while the
-- position stayed, as to a member whose group's owner changed while it
-- read, until 0.18's last review)
SELECT count(*) FROM topics._consume_partition('pv_owned', 'pv_t', 1, 0, 10);
\echo :SQLSTATE
-- a group made for another role is refused too
INSERT INTO topics.consumer_groups (group_id, topic, owner) VALUES ('pv_for_a', 'pv_t', 'regress_pgt_grp_a');
\echo :SQLSTATE
SELECT topics.set_consumer_group_owner('pv_for_a', 'pv_t', 'regress_pgt_grp_a');
-- but readers see the group and its positions
SELECT partition, seq FROM topics.committed('pv_owned', 'pv_t') ORDER BY partition;
SELECT partition, committed_seq, lag FROM topics.consumer_lag
WHERE group_id = 'pv_owned' ORDER BY partition;
-- a role that may not read the topic learns nothing of its groups from
-- the helpers the policies call
RESET ROLE;
SET ROLE regress_pgt_priv_none;
SELECT topics._check_group_access('pv_owned', 'pv_t');
SELECT topics._may_use_group_id('pv_t', 'pv_owned') AS owned, topics._may_use_group_id('pv_t', 'nonesuch') AS none;
RESET ROLE;
SET ROLE regress_pgt_grp_b;
-- a group of a role that several share: made for it by a member, used by
-- its members
SELECT topics.set_consumer_group_owner('pv_team', 'pv_t', 'regress_pgt_grp_team');
SELECT count(*) FROM topics.consume('pv_team', 'pv_t');
RESET ROLE;
SET ROLE regress_pgt_grp_a;
SELECT topics.commit('pv_team', 'pv_t', 1, 0);
\echo :SQLSTATE
RESET ROLE;
SELECT partition, seq FROM topics.committed('pv_team', 'pv_t') ORDER BY partition;
-- the topic's owner may give any group to any role, and only it may open
-- a group (NULL)
SELECT topics.set_consumer_group_owner('pv_owned', 'pv_t', 'regress_pgt_grp_team');
SET ROLE regress_pgt_grp_b;
SELECT topics.commit('pv_owned', 'pv_t', 1, 2);
SELECT topics.set_consumer_group_owner('pv_owned', 'pv_t', NULL);
\echo :SQLSTATE
RESET ROLE;
SELECT topics.set_consumer_group_owner('pv_owned', 'pv_t', NULL);
SET ROLE regress_pgt_grp_a;
SELECT topics.commit('pv_owned', 'pv_t', 1, 3);
SELECT partition, seq FROM topics.committed('pv_owned', 'pv_t') ORDER BY partition;
-- an open group (as every group made before 0.18) is the topic owner's to
-- give an owner: a reader taking it would lock the others out, also by
-- deleting it and making it again (its row stays, open, since 0.18)
SELECT topics.set_consumer_group_owner('pv_owned', 'pv_t', 'regress_pgt_grp_a');
\echo :SQLSTATE
SELECT topics.delete_consumer_group('pv_owned', 'pv_t');
SELECT topics.set_auto_offset_reset('pv_owned', 'pv_t', 'earliest');
SELECT owner IS NULL AS still_open FROM topics.consumer_groups WHERE group_id = 'pv_owned';
UPDATE topics.consumer_groups SET owner = 'regress_pgt_grp_a' WHERE group_id = 'pv_owned';
\echo :SQLSTATE
-- nobody stores positions for a group that has no row yet (its maker
-- would start from them), nor renames a group's rows, leaving them so, or
-- to take an open group's id
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq) VALUES ('pv_planted', 'pv_t', 1, 3);
\echo :SQLSTATE
UPDATE topics.consumer_groups SET group_id = 'pv_renamed' WHERE group_id = 'pv_owned';
\echo :SQLSTATE
UPDATE topics.committed_offsets SET group_id = 'pv_renamed' WHERE group_id = 'pv_owned';
\echo :SQLSTATE
UPDATE topics.committed_offsets SET partition = 5 WHERE group_id = 'pv_owned';
\echo :SQLSTATE
RESET ROLE;
-- an owner that was dropped leaves the group to the topic's owner
SELECT topics.set_consumer_group_owner('pv_owned', 'pv_t', 'regress_pgt_grp_a');
DROP OWNED BY regress_pgt_grp_a;
DROP ROLE regress_pgt_grp_a;
SELECT owner FROM topics.consumer_groups WHERE group_id = 'pv_owned';
SET ROLE regress_pgt_grp_b;
SELECT topics.commit('pv_owned', 'pv_t', 1, 0);
RESET ROLE;
SELECT topics.commit('pv_owned', 'pv_t', 1, 0);
SELECT topics.delete_consumer_group('pv_owned', 'pv_t');
-- consume's internal half on a group with no position there (a direct
-- call) cannot move it either, and takes its records back
SELECT count(*) FROM topics._consume_partition('pv_nowhere', 'pv_t', 1, 0, 10);
\echo :SQLSTATE
\set SHOW_CONTEXT errors
DROP OWNED BY regress_pgt_grp_b;
DROP ROLE regress_pgt_grp_b;
DROP ROLE regress_pgt_grp_team;

DROP TABLE pv_t;
DROP ROLE regress_pgt_priv_none;
DROP ROLE regress_pgt_priv_writer;
DROP ROLE regress_pgt_priv_reader;
