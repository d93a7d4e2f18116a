--
-- Kafka-style consumer groups: commit / committed, auto_offset_reset,
-- consume (position advances in the consuming transaction), consumer_lag,
-- privileges and clean-up.
--
\set VERBOSITY terse
SELECT topics.create_topic('cg', 3);
SELECT count(*) FROM topics.produce_batch('cg', ARRAY['a', 'a', 'a', 'a'], ARRAY['1', '2', '3', '4'], partition => 0);
SELECT count(*) FROM topics.produce_batch('cg', ARRAY['b', 'b'], ARRAY['5', '6'], partition => 1);

-- commit and committed
SELECT topics.commit('manual', 'cg', 0, 2);
SELECT topics.commit('manual', 'cg', 1, 0);
SELECT * FROM topics.committed('manual', 'cg') ORDER BY partition;
SELECT topics.commit('manual', 'cg', 0, 4);          -- up to next_seq is fine
SELECT topics.commit('manual', 'cg', 0, 1);          -- moving back is allowed (a reset)
SELECT * FROM topics.committed('manual', 'cg') ORDER BY partition;
SELECT * FROM topics.committed('nobody', 'cg');
-- commit errors
SELECT topics.commit('manual', 'cg', 0, -1);
SELECT topics.commit('manual', 'cg', 0, 5);
SELECT topics.commit('manual', 'cg', 3, 0);
SELECT topics.commit(NULL, 'cg', 0, 0);
SELECT topics.commit('manual', NULL, 0, 0);
SELECT topics.commit('manual', 'cg', NULL, 0);
SELECT topics.commit('manual', 'cg', 0, NULL);
SELECT topics.commit('manual', 'pg_class', 0, 0);
-- a read-only transaction (as on a standby) cannot move a group: the error
-- says so and where to do it (0.15; before, "cannot execute INSERT in a
-- read-only transaction"); reading the positions works
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN READ ONLY;
SELECT count(*) FROM topics.consume('manual', 'cg');
ROLLBACK;
BEGIN READ ONLY;
SELECT topics.commit('manual', 'cg', 0, 2);
\echo :SQLSTATE
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM topics.committed('manual', 'cg') ORDER BY partition;
ROLLBACK;
\set VERBOSITY terse
\set SHOW_CONTEXT errors

-- consume from the committed position; the position advances
SELECT partition, seq, convert_from(value, 'UTF8') AS value FROM topics.consume('manual', 'cg', 2);
SELECT * FROM topics.committed('manual', 'cg') ORDER BY partition;

-- a fresh group starts at the log start (earliest) and drains every partition
SELECT partition, seq FROM topics.consume('fresh', 'cg', 3);
SELECT partition, seq FROM topics.consume('fresh', 'cg', 3);
SELECT partition, seq FROM topics.consume('fresh', 'cg', 3);
SELECT partition, seq FROM topics.consume('fresh', 'cg', 3);   -- nothing left
SELECT * FROM topics.committed('fresh', 'cg') ORDER BY partition;

-- latest: starts at the end, sees only what comes after
SELECT topics.set_auto_offset_reset('tail', 'cg', 'latest');
SELECT partition, seq FROM topics.consume('tail', 'cg');
SELECT * FROM topics.produce('cg', 'c', '7', partition => 2);
SELECT partition, seq, key FROM topics.consume('tail', 'cg');
SELECT group_id, auto_offset_reset FROM topics.consumer_groups WHERE topic = 'cg'::regclass ORDER BY 1;
SELECT topics.set_auto_offset_reset('tail', 'cg', 'sometimes');
SELECT topics.set_auto_offset_reset('tail', 'cg', NULL);

-- rollback re-delivers, commit does not
BEGIN;
SELECT partition, seq FROM topics.consume('rb', 'cg', 2);
ROLLBACK;
BEGIN;
SELECT partition, seq FROM topics.consume('rb', 'cg', 2);
COMMIT;
SELECT partition, seq FROM topics.consume('rb', 'cg', 2);

-- consume errors
SELECT * FROM topics.consume('g', 'cg', 0);
SELECT * FROM topics.consume('g', 'cg', 10, '-1 s');
SELECT * FROM topics.consume(NULL, 'cg');
SELECT * FROM topics.consume('g', NULL);
SELECT * FROM topics.consume('g', 'pg_class');
-- consume's reading half, called directly, checks its arguments alike
SELECT * FROM topics._consume_partition(NULL, 'cg', 0, 0, 10);
SELECT * FROM topics._consume_partition('g', 'cg', NULL, 0, 10);
SELECT * FROM topics._consume_partition('g', 'cg', 0, -1, 10);
SELECT * FROM topics._consume_partition('g', 'cg', 0, 0, 0);
SELECT * FROM topics._consume_partition('g', 'cg', 7, 0, 10);
SELECT * FROM topics._consume_partition('g', 'pg_class', 0, 0, 10);
-- it moves the group's position past what it returns, and only then
SELECT topics.commit('direct', 'cg', 0, 0);
SELECT count(*), min(seq), max(seq) FROM topics._consume_partition('direct', 'cg', 0, 0, 2);
SELECT partition, seq FROM topics.committed('direct', 'cg') ORDER BY partition;
SELECT count(*) FROM topics._consume_partition('direct', 'cg', 0,
    (SELECT next_seq FROM topics.partitions WHERE topic = 'cg'::regclass AND partition = 0), 2);
SELECT partition, seq FROM topics.committed('direct', 'cg') ORDER BY partition;

-- consumer_lag: committed position, high watermark, lag
SELECT group_id, topic, partition, committed_seq, next_seq, lag
FROM topics.consumer_lag WHERE topic = 'cg'::regclass ORDER BY group_id, partition;

-- privileges: consuming and committing need SELECT on the topic; other
-- topics' groups are invisible
SELECT topics.create_topic('cg_secret', 1);
SELECT seq FROM topics.produce('cg_secret', 's', 'secret');
SELECT topics.commit('secret_group', 'cg_secret', 0, 1);
CREATE ROLE cg_reader;
CREATE ROLE cg_nobody;
GRANT SELECT ON cg TO cg_reader;
SET ROLE cg_reader;
SELECT count(*) FROM topics.consume('reader_group', 'cg', 100);
SELECT DISTINCT topic FROM topics.committed_offsets ORDER BY 1;
SELECT DISTINCT topic FROM topics.consumer_lag ORDER BY 1;
SELECT count(*) FROM topics.consumer_groups WHERE topic = 'cg_secret'::regclass;
SELECT * FROM topics.consume('reader_group', 'cg_secret');
SELECT * FROM topics._consume_partition('reader_group', 'cg_secret', 0, 0, 10);
SELECT topics.commit('reader_group', 'cg_secret', 0, 0);
SELECT * FROM topics.committed('secret_group', 'cg_secret');
UPDATE topics.committed_offsets SET seq = 0 WHERE topic = 'cg_secret'::regclass;
RESET ROLE;
SET ROLE cg_nobody;
SELECT * FROM topics.consume('g', 'cg');
SELECT count(*) FROM topics.consumer_lag;
RESET ROLE;
SELECT seq FROM topics.committed('secret_group', 'cg_secret');

-- DROP TABLE forgets the topic's groups and positions
DROP TABLE cg;
SELECT count(*) FROM topics.committed_offsets WHERE topic::text = 'cg';
SELECT count(*) FROM topics.consumer_groups WHERE topic::text = 'cg';
SELECT topics.drop_topic('cg_secret');
SELECT count(*) FROM topics.committed_offsets;
DROP ROLE cg_reader;
DROP ROLE cg_nobody;

-- partitions added to a topic: the group's next consume makes their rows
-- (from the log start, auto_offset_reset 'earliest') and reads them
SELECT topics.create_topic('cg_grow', 1);
SELECT partition, seq FROM topics.produce('cg_grow', 'a', 'x', NULL, 0);
SELECT partition, seq FROM topics.consume('cg_grow_g', 'cg_grow', 10);
SELECT topics.alter_topic('cg_grow', partitions => 2);
SELECT partition, seq FROM topics.produce('cg_grow', 'b', 'y', NULL, 1);
SELECT partition, seq, key FROM topics.consume('cg_grow_g', 'cg_grow', 10);
SELECT partition, seq FROM topics.committed('cg_grow_g', 'cg_grow') ORDER BY partition;
SELECT topics.drop_topic('cg_grow');

-- aborted records after a group's position: consume moves the position
-- past them and reads on in the other partitions (before 0.8 it returned
-- nothing on every call, choosing the partition with the aborted records
-- for its larger lag)
SELECT topics.create_topic('cg_ab', 2);
SELECT count(*) FROM topics.produce_batch('cg_ab', ARRAY['a'], ARRAY['1'], partition => 0);
SELECT partition, seq FROM topics.consume('cg_ab_g', 'cg_ab', 10);
BEGIN;
SELECT count(*) FROM topics.produce_batch('cg_ab', ARRAY['x', 'x', 'x', 'x', 'x'], ARRAY['1', '2', '3', '4', '5'], partition => 0);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('cg_ab', ARRAY['b', 'b'], ARRAY['1', '2'], partition => 1);
SELECT partition, seq, key FROM topics.consume('cg_ab_g', 'cg_ab', 10);
SELECT partition, seq, key FROM topics.consume('cg_ab_g', 'cg_ab', 10);
SELECT partition, committed_seq, next_seq, lag FROM topics.consumer_lag
WHERE group_id = 'cg_ab_g' ORDER BY partition;
-- aborted records before committed ones: the committed ones come, after the gap
BEGIN;
SELECT count(*) FROM topics.produce_batch('cg_ab', ARRAY['y', 'y', 'y'], ARRAY['1', '2', '3'], partition => 1);
ROLLBACK;
SELECT partition, seq FROM topics.produce('cg_ab', 'c', '3', partition => 1);
SELECT partition, seq, key FROM topics.consume('cg_ab_g', 'cg_ab', 10);
-- _consume_partition over aborted records only returns nothing and moves
-- the position past them (with max_records 1 too); reading from the next
-- seq it leaves the position alone
BEGIN;
SELECT count(*) FROM topics.produce_batch('cg_ab', ARRAY['z', 'z'], ARRAY['1', '2'], partition => 0);
ROLLBACK;
SELECT count(*) FROM topics._consume_partition('cg_ab_g', 'cg_ab', 0, 6, 10);
SELECT partition, seq FROM topics.committed('cg_ab_g', 'cg_ab') ORDER BY partition;
SELECT topics.commit('cg_ab_g', 'cg_ab', 0, 6);
SELECT count(*) FROM topics._consume_partition('cg_ab_g', 'cg_ab', 0, 6, 1);
SELECT partition, seq FROM topics.committed('cg_ab_g', 'cg_ab') ORDER BY partition;
SELECT topics.commit('cg_ab_g', 'cg_ab', 0, 6);
SELECT count(*) FROM topics._consume_partition('cg_ab_g', 'cg_ab', 0, 8, 10);
SELECT partition, seq FROM topics.committed('cg_ab_g', 'cg_ab') ORDER BY partition;
-- a position below the log start of a partition with nothing left (TRUNCATE
-- here, retention alike) moves to the log start, and the lag goes
SELECT topics.commit('cg_ab_g', 'cg_ab', 1, 0);
TRUNCATE cg_ab;
SELECT partition, committed_seq, next_seq, lag FROM topics.consumer_lag
WHERE group_id = 'cg_ab_g' ORDER BY partition;
SELECT count(*) FROM topics.consume('cg_ab_g', 'cg_ab', 10);
SELECT partition, seq FROM topics.committed('cg_ab_g', 'cg_ab') ORDER BY partition;
SELECT topics.drop_topic('cg_ab');

-- one call returns up to 50 MB of keys, values and headers (Kafka's
-- fetch.max.bytes default; the first record always comes), the rest next
SELECT topics.create_topic('cg_big', 1);
INSERT INTO cg_big (key, value)
SELECT 'k' || g, convert_to(repeat('x', 1000000), 'UTF8') FROM generate_series(1, 60) g;
SELECT count(*), sum(length(value)) FROM topics.consume('cg_big_g', 'cg_big', 1000);
SELECT count(*), min(seq) FROM topics.consume('cg_big_g', 'cg_big', 1000);
SELECT topics.drop_topic('cg_big');

-- A position past a partition's end (a restore drops the unused seqs after
-- a partition's last record, which a group may have read past: here the
-- restored position is written as pg_restore loads it) goes back by the
-- group's auto_offset_reset, as a Kafka consumer's out-of-range offset
-- does: until 0.9 the group skipped every record produced up to its
-- position, and consume did not even look at the partition
SELECT topics.create_topic('cg_past', 1);
SELECT count(*) FROM topics.produce_batch('cg_past', ARRAY['a', 'b'], ARRAY['1', '2']);
SELECT count(*) FROM topics.consume('cg_early', 'cg_past');
SELECT topics.set_auto_offset_reset('cg_late', 'cg_past', 'latest');
SELECT count(*) FROM topics.consume('cg_late', 'cg_past');
UPDATE topics.committed_offsets SET seq = 100 WHERE topic = 'cg_past'::regclass;
SELECT count(*) FROM topics.produce_batch('cg_past', ARRAY['c'], ARRAY['3']);
SELECT seq, key FROM topics.consume('cg_early', 'cg_past');
SELECT seq FROM topics.committed('cg_early', 'cg_past');
SELECT count(*) AS late_gets FROM topics.consume('cg_late', 'cg_past');
SELECT seq FROM topics.committed('cg_late', 'cg_past');
SELECT count(*) FROM topics.produce_batch('cg_past', ARRAY['d'], ARRAY['4']);
SELECT seq, key FROM topics.consume('cg_late', 'cg_past');
DROP TABLE cg_past;
-- a wait of a million years is a century, as fetch's (it overflowed)
SELECT topics.create_topic('cg_wait', 1);
SELECT count(*) FROM topics.produce('cg_wait', 'k', 'v');
SELECT count(*) FROM topics.consume('cg_wait_g', 'cg_wait', 10, '1000000 years');
DROP TABLE cg_wait;
-- a group id is 1 to 1024 bytes (since 0.10): an empty one was taken, and
-- a long one that did not compress failed in the primary key's index, with
-- a hint about the extension's table
SELECT topics.create_topic('cg_ids', 2);
SELECT count(*) FROM topics.consume('', 'cg_ids');
SELECT topics.commit(repeat('x', 1025), 'cg_ids', 0, 0);
SELECT topics.set_auto_offset_reset(repeat('é', 513), 'cg_ids', 'latest');
SELECT topics.commit(repeat('x', 1024), 'cg_ids', 0, 0);
SELECT topics.delete_consumer_group(repeat('x', 1024), 'cg_ids');
-- a partition out of range names the count, and says "0" of one
SELECT topics.commit('g', 'cg_ids', 2, 0);
SELECT * FROM topics.fetch('cg_ids', 2, 0);
-- a partition added to a "latest" group that has positions starts at its
-- log start: the records produced to it before the group's next consume
-- come (until 0.10 the group started there at the last stable offset and
-- skipped them); a new "latest" group still starts at the end
SELECT topics.set_auto_offset_reset('cg_late_new', 'cg_ids', 'latest');
SELECT count(*) FROM topics.produce_batch('cg_ids', ARRAY['a', 'b'], ARRAY['1', '2'], NULL, 0);
SELECT count(*) FROM topics.consume('cg_late_new', 'cg_ids');
SELECT topics.alter_topic('cg_ids', partitions => 3);
SELECT seq FROM topics.produce('cg_ids', 'new', 'p2', NULL, 2);
SELECT partition, seq, key FROM topics.consume('cg_late_new', 'cg_ids');
SELECT partition, seq FROM topics.committed('cg_late_new', 'cg_ids');
SELECT topics.set_auto_offset_reset('cg_late_newer', 'cg_ids', 'latest');
SELECT count(*) FROM topics.consume('cg_late_newer', 'cg_ids');
SELECT partition, seq FROM topics.committed('cg_late_newer', 'cg_ids');
-- consumer_lag counts a partition the group has no position on yet: the
-- records consume would read there (until 0.12 the view left it out, and
-- showed no lag while they waited)
SELECT topics.alter_topic('cg_ids', partitions => 4);
SELECT seq FROM topics.produce('cg_ids', 'new', 'p3', NULL, 3);
SELECT group_id, partition, committed_seq, next_seq, lag FROM topics.consumer_lag
WHERE topic = 'cg_ids'::regclass AND group_id LIKE 'cg_late%' ORDER BY 1, 2;
SELECT partition, seq, key FROM topics.consume('cg_late_newer', 'cg_ids');
-- auto_offset_reset holds for every partition without a position, not only
-- in a group with none (until 0.12 a "latest" group with a position
-- committed by hand read the whole history of its other partitions)
SELECT topics.set_auto_offset_reset('cg_late_hand', 'cg_ids', 'latest');
SELECT topics.commit('cg_late_hand', 'cg_ids', 0, 1);
SELECT group_id, partition, committed_seq, next_seq, lag FROM topics.consumer_lag
WHERE topic = 'cg_ids'::regclass AND group_id = 'cg_late_hand' ORDER BY 1, 2;
SELECT partition, seq, key FROM topics.consume('cg_late_hand', 'cg_ids');
SELECT partition, seq FROM topics.committed('cg_late_hand', 'cg_ids');
-- deleting a "latest" group keeps the setting, as a Kafka consumer keeps
-- its auto.offset.reset: it starts again at the end (until 0.12 it came
-- back "earliest" and read the whole log); an "earliest" group is gone
SELECT topics.delete_consumer_group('cg_late_hand', 'cg_ids');
SELECT group_id, auto_offset_reset FROM topics.consumer_groups
WHERE topic = 'cg_ids'::regclass AND group_id = 'cg_late_hand';
SELECT count(*) FROM topics.consume('cg_late_hand', 'cg_ids');
SELECT partition, seq FROM topics.committed('cg_late_hand', 'cg_ids');
-- and the deleted group, left with no position, is not in consumer_lag
SELECT topics.delete_consumer_group('cg_late_hand', 'cg_ids');
SELECT count(*) FROM topics.consumer_lag WHERE group_id = 'cg_late_hand';
-- a partition added after a group's positions were all committed by hand
-- is still one added after the group began: its records come (each
-- position notes the partition count it was stored at)
SELECT topics.set_auto_offset_reset('cg_late_all_hand', 'cg_ids', 'latest');
SELECT count(topics.commit('cg_late_all_hand', 'cg_ids', partition, next_seq))
FROM topics.partition_bounds('cg_ids');
SELECT topics.alter_topic('cg_ids', partitions => 5);
SELECT seq FROM topics.produce('cg_ids', 'new', 'p4', NULL, 4);
SELECT partition, lag FROM topics.consumer_lag
WHERE group_id = 'cg_late_all_hand' AND partition = 4;
SELECT partition, seq, key FROM topics.consume('cg_late_all_hand', 'cg_ids');
-- a position committed by hand later, on a partition added later, does not
-- change where the group's other added partitions start: the count the
-- group began with is the smallest its positions note
SELECT topics.alter_topic('cg_ids', partitions => 7);
SELECT seq FROM topics.produce('cg_ids', 'new', 'p5', NULL, 5);
SELECT seq FROM topics.produce('cg_ids', 'new', 'p6', NULL, 6);
SELECT topics.commit('cg_late_all_hand', 'cg_ids', 6, 1);
SELECT partition, committed_seq, lag FROM topics.consumer_lag
WHERE group_id = 'cg_late_all_hand' AND partition >= 5 ORDER BY 1;
SELECT partition, seq, key FROM topics.consume('cg_late_all_hand', 'cg_ids');
-- a position stored without a count (restored from a dump of 0.11) notes
-- 0, as one stored before 0.12: its group keeps 0.11's rule
INSERT INTO topics.committed_offsets (group_id, topic, partition, seq)
VALUES ('cg_restored', 'cg_ids', 0, 0);
SELECT DISTINCT topic_partitions FROM topics.committed_offsets WHERE group_id = 'cg_restored';
-- an "earliest" group's positions go, and since 0.18 its row stays, with
-- its owner, as Kafka's ACLs outlive a group (before, the group's next
-- member made it again as its own); so does an open group's
SELECT count(*) FROM topics.consume('cg_early', 'cg_ids');
SELECT topics.delete_consumer_group('cg_early', 'cg_ids');
SELECT count(*), min(owner) = current_user AS owner_kept
FROM topics.consumer_groups WHERE group_id = 'cg_early';
SELECT topics.delete_consumer_group('cg_early', 'cg_ids');
SELECT topics.set_consumer_group_owner('cg_early', 'cg_ids', NULL);
SELECT topics.delete_consumer_group('cg_early', 'cg_ids');
SELECT count(*) FROM topics.consumer_groups WHERE group_id = 'cg_early';
DROP TABLE cg_ids;

-- consume reads its look (topics._consume_look, since 0.19) as a row of
-- (bigint, integer[]): a look of another shape, or one that returns no row
-- (a library and SQL of different versions, or a look made again by hand),
-- is an error, not a misread
SELECT topics.create_topic('cg_look', 1);
BEGIN;
ALTER EXTENSION pg_topics DROP FUNCTION topics._consume_look(text, regclass, boolean, boolean);
DROP FUNCTION topics._consume_look(text, regclass, boolean, boolean);
CREATE FUNCTION topics._consume_look(group_id text, topic regclass, first boolean, waiting boolean,
                                     OUT generation integer, OUT candidates text)
RETURNS record LANGUAGE sql AS $$ SELECT 1, '{0}' $$;
SAVEPOINT shape;
SELECT count(*) FROM topics.consume('cg_look', 'cg_look');
ROLLBACK TO shape;
DROP FUNCTION topics._consume_look(text, regclass, boolean, boolean);
CREATE FUNCTION topics._consume_look(group_id text, topic regclass, first boolean, waiting boolean,
                                     OUT generation bigint, OUT candidates integer[])
RETURNS record LANGUAGE sql AS $$ SELECT 1::bigint, '{0}'::integer[] WHERE false $$;
SELECT count(*) FROM topics.consume('cg_look', 'cg_look');
ROLLBACK;
-- the look of the extension is back: consume works
SELECT count(*) FROM topics.consume('cg_look', 'cg_look');
DROP TABLE cg_look;
