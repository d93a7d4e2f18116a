--
-- Truncation points: TRUNCATE keeps each partition's next seq, and records
-- it in topics.truncation_points, which a dump carries; the table's trigger
-- raises a restored partition without records to it (TAP 005 dumps and
-- restores).  Until 0.12 a partition a TRUNCATE had left empty restarted
-- at seq 0 after a restore.
--
\set VERBOSITY terse

SELECT topics.create_topic('tr', 3);
SELECT count(*) FROM topics.produce_batch('tr', array_fill('k'::text, ARRAY[100]),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 100) g), partition => 0);
SELECT count(*) FROM topics.produce_batch('tr', array_fill('k'::text, ARRAY[20]),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 20) g), partition => 1);
-- a rolled-back TRUNCATE records nothing
BEGIN;
TRUNCATE tr;
ROLLBACK;
SELECT count(*) FROM topics.truncation_points WHERE topic = 'tr'::regclass;
-- partitions still at seq 0 need no row
TRUNCATE tr;
SELECT partition, next_seq FROM topics.truncation_points WHERE topic = 'tr'::regclass ORDER BY 1;
SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds('tr');
-- a later TRUNCATE moves the rows up
SELECT * FROM topics.produce('tr', 'k', 'after', partition => 1);
TRUNCATE tr;
SELECT partition, next_seq FROM topics.truncation_points WHERE topic = 'tr'::regclass ORDER BY 1;

-- a topic created and truncated in one transaction (truncated in place)
BEGIN;
SELECT topics.create_topic('tr_new', 1);
SELECT * FROM topics.produce('tr_new', 'k', 'v');
TRUNCATE tr_new;
COMMIT;
SELECT partition, next_seq FROM topics.truncation_points WHERE topic = 'tr_new'::regclass;

-- whoever may truncate a topic records its point, but no role but the
-- table's owner writes the table directly (its trigger moves seqs)
CREATE ROLE regress_pgt_trunc;
GRANT SELECT, INSERT, TRUNCATE ON tr_new TO regress_pgt_trunc;
SELECT * FROM topics.produce('tr_new', 'k', 'v');
SET ROLE regress_pgt_trunc;
TRUNCATE tr_new;
SELECT partition, next_seq FROM topics.truncation_points WHERE topic = 'tr_new'::regclass;
INSERT INTO topics.truncation_points (topic, partition, next_seq) VALUES ('tr_new', 0, 1000);
UPDATE topics.truncation_points SET next_seq = 1000;
DELETE FROM topics.truncation_points;
-- rows of topics the role cannot read are not shown
SELECT count(*) FROM topics.truncation_points WHERE topic = 'tr'::regclass;
-- nor may it fire the trigger from a table of its own, to move a topic's
-- seqs or lock a relation it may not use
CREATE TEMP TABLE tr_mine (topic regclass, partition integer, next_seq bigint);
CREATE TRIGGER tr_mine AFTER INSERT ON tr_mine
    FOR EACH ROW EXECUTE FUNCTION topics._restore_truncation_point();
RESET ROLE;
-- nor may anyone, on another table
CREATE TRIGGER tr_mine AFTER INSERT ON tr_mine
    FOR EACH ROW EXECUTE FUNCTION topics._restore_truncation_point();
INSERT INTO tr_mine VALUES ('tr', 2, 1000);
DROP TABLE tr_mine;
SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds('tr') WHERE partition = 2;
-- a role given INSERT on the table (and past its row-level security)
-- moves only the seqs of its own topics
CREATE ROLE regress_pgt_trunc_bypass BYPASSRLS;
GRANT INSERT ON topics.truncation_points TO regress_pgt_trunc_bypass;
SET ROLE regress_pgt_trunc_bypass;
INSERT INTO topics.truncation_points (topic, partition, next_seq) VALUES ('tr', 2, 1000);
RESET ROLE;
DROP OWNED BY regress_pgt_trunc_bypass;
DROP ROLE regress_pgt_trunc_bypass;
SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds('tr') WHERE partition = 2;

-- what a restore does: a row raises a partition without records to its
-- point, log start included, before its records or with none coming
SELECT topics.create_topic('tr_restored', 3);
INSERT INTO topics.truncation_points (topic, partition, next_seq)
VALUES ('tr_restored', 0, 100), ('tr_restored', 1, 21);
SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds('tr_restored');
-- the records after the TRUNCATE come at or past the point
INSERT INTO tr_restored (partition, seq, key, value) VALUES (1, 21, 'k', 'after');
SELECT * FROM topics.produce('tr_restored', 'k', 'new', partition => 0);
SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds('tr_restored');
-- a point at or below where a partition stands changes nothing
INSERT INTO topics.truncation_points (topic, partition, next_seq) VALUES ('tr_restored', 2, 0);
UPDATE topics.truncation_points SET next_seq = 50
WHERE topic = 'tr_restored'::regclass AND partition = 0;
-- a partition with records is not moved: only a row written by hand asks that
UPDATE topics.truncation_points SET next_seq = 500
WHERE topic = 'tr_restored'::regclass AND partition = 1;
-- nor what is not a topic's partition; a warning, so a restore goes on
DELETE FROM topics.truncation_points WHERE topic = 'tr_restored'::regclass AND partition = 2;
INSERT INTO topics.truncation_points (topic, partition, next_seq) VALUES ('tr_restored', 7, 10);
CREATE TABLE tr_heap (a int);
INSERT INTO topics.truncation_points (topic, partition, next_seq) VALUES ('tr_heap', 0, 10);
SELECT partition, log_start_seq, next_seq FROM topics.partition_bounds('tr_restored');

-- DROP TABLE forgets a topic's points
DROP TABLE tr, tr_new, tr_restored;
SELECT topic::text, partition, next_seq FROM topics.truncation_points ORDER BY 1, 2;
DELETE FROM topics.truncation_points;
DROP TABLE tr_heap;
DROP ROLE regress_pgt_trunc;
