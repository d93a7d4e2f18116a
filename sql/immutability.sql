--
-- immutability: records cannot be changed, the record layout is fixed
--
SELECT topics.create_topic('im_t', 2);
SELECT count(*) FROM topics.produce_batch('im_t',
    ARRAY(SELECT 'k' || g FROM generate_series(1, 20) g),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 20) g));
CREATE TEMP TABLE im_before AS
SELECT partition, seq, ts, key, value, headers FROM im_t;
CREATE VIEW im_digest AS
SELECT count(*) AS records, md5(string_agg(t::text, ',' ORDER BY partition, seq)) = (
         SELECT md5(string_agg(b::text, ',' ORDER BY partition, seq)) FROM im_before b) AS unchanged
FROM im_t t;
SELECT * FROM im_digest;

-- UPDATE, DELETE, MERGE and row locks fail with feature_not_supported,
-- whether or not a row qualifies
UPDATE im_t SET key = 'changed';
\echo :SQLSTATE
UPDATE im_t SET key = 'changed' WHERE false;
\echo :SQLSTATE
UPDATE im_t SET value = NULL WHERE partition = 0 AND seq = 0 RETURNING seq;
\echo :SQLSTATE
DELETE FROM im_t;
\echo :SQLSTATE
DELETE FROM im_t WHERE false;
\echo :SQLSTATE
WITH d AS (DELETE FROM im_t RETURNING *) SELECT count(*) FROM d;
\echo :SQLSTATE
MERGE INTO im_t t USING (VALUES ('k1')) v(k) ON t.key = v.k
WHEN MATCHED THEN DELETE;
\echo :SQLSTATE
SELECT * FROM im_t FOR UPDATE;
\echo :SQLSTATE
SELECT * FROM im_t FOR NO KEY UPDATE;
\echo :SQLSTATE
SELECT * FROM im_t FOR SHARE;
\echo :SQLSTATE
SELECT * FROM im_t FOR KEY SHARE;
\echo :SQLSTATE
SELECT count(*) FROM (SELECT * FROM im_t WHERE seq = 0 FOR UPDATE) s;
\echo :SQLSTATE
-- through PL/pgSQL too
DO $$BEGIN DELETE FROM im_t WHERE seq = 1; END$$;
\echo :SQLSTATE
-- through an auto-updatable view the statement reaches the topic only after
-- rewriting: the plan is checked, and it fails as on the topic, whether or
-- not a row qualifies (until 0.13 DELETE ... WHERE false succeeded, and the
-- others failed in the access method with other words)
CREATE VIEW im_view AS SELECT * FROM im_t;
UPDATE im_view SET key = 'changed';
\echo :SQLSTATE
UPDATE im_view SET key = 'changed' WHERE false;
\echo :SQLSTATE
DELETE FROM im_view;
\echo :SQLSTATE
DELETE FROM im_view WHERE false;
\echo :SQLSTATE
WITH d AS (DELETE FROM im_view WHERE false RETURNING *) SELECT count(*) FROM d;
\echo :SQLSTATE
SELECT * FROM im_view FOR UPDATE;
\echo :SQLSTATE
SELECT * FROM im_view WHERE false FOR SHARE;
\echo :SQLSTATE
-- a rule that deletes from the topic
CREATE TABLE im_side (k text);
CREATE RULE im_side_del AS ON INSERT TO im_side DO ALSO DELETE FROM im_t WHERE key = NEW.k;
INSERT INTO im_side VALUES ('k1');
\echo :SQLSTATE
DROP RULE im_side_del ON im_side;
-- a topic may be read by a change of another table, and locked by nothing
INSERT INTO im_side VALUES ('k1'), ('k2'), ('none');
UPDATE im_side s SET k = s.k || '!' FROM im_t t WHERE t.key = s.k;
DELETE FROM im_side s USING im_t t WHERE t.key || '!' = s.k;
SELECT * FROM im_side;
INSERT INTO im_side VALUES ('k2');
SELECT s.k, t.partition, t.seq FROM im_side s JOIN im_view t ON t.key = s.k FOR UPDATE OF s;
DROP TABLE im_side;
DROP VIEW im_view;
SELECT * FROM im_digest;

-- VACUUM FULL rewrites the storage and keeps every record as it was (test
-- vacuum_full); CLUSTER has no index to use: topics cannot be indexed
VACUUM FULL im_t;
VACUUM (FULL, ANALYZE) im_t;
SELECT * FROM im_digest;
CREATE INDEX im_t_key ON im_t (key);
\echo :SQLSTATE
CLUSTER im_t USING im_t_key;
\echo :SQLSTATE
SELECT * FROM im_digest;
-- CREATE INDEX CONCURRENTLY is refused before it commits a catalog entry
-- (until 0.10 it left an invalid index that made VACUUM FULL and REINDEX of
-- the topic fail until it was dropped)
CREATE INDEX CONCURRENTLY im_t_cic ON im_t (key);
\echo :SQLSTATE
SELECT count(*) AS indexes FROM pg_index WHERE indrelid = 'im_t'::regclass;
VACUUM FULL im_t;
REINDEX TABLE im_t;
SELECT * FROM im_digest;

-- the record layout is fixed: ALTER TABLE, triggers, rules and policies fail
-- with feature_not_supported (only the SQLSTATE is shown)
CREATE FUNCTION im_try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION im_trigger_fn() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN NEW.key := 'rewritten'; RETURN NEW; END$$;
SELECT cmd, im_try(cmd) AS sqlstate FROM (VALUES
    ('ALTER TABLE im_t ADD COLUMN extra integer'),
    ('ALTER TABLE im_t DROP COLUMN headers'),
    ('ALTER TABLE im_t ALTER COLUMN key TYPE varchar(10)'),
    ('ALTER TABLE im_t RENAME COLUMN key TO k'),
    ('ALTER TABLE im_t ADD CONSTRAINT im_check CHECK (seq >= 0)'),
    ('ALTER TABLE im_t ENABLE ROW LEVEL SECURITY'),
    ('CREATE TRIGGER im_trig BEFORE INSERT ON im_t FOR EACH ROW EXECUTE FUNCTION im_trigger_fn()'),
    ('CREATE TRIGGER im_trig_stmt AFTER INSERT ON im_t FOR EACH STATEMENT EXECUTE FUNCTION im_trigger_fn()'),
    ('CREATE RULE im_rule AS ON INSERT TO im_t DO INSTEAD NOTHING'),
    ('CREATE POLICY im_policy ON im_t USING (key <> ''k1'')')) v(cmd);
-- one of them with its message
CREATE TRIGGER im_trig BEFORE INSERT ON im_t FOR EACH ROW EXECUTE FUNCTION im_trigger_fn();
-- nothing changed
SELECT attnum, attname, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid = 'im_t'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'im_t'::regclass;
SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'im_t'::regclass) AS triggers,
       (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'im_t'::regclass) AS rules,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'im_t'::regclass) AS policies,
       (SELECT count(*) FROM pg_constraint WHERE conrelid = 'im_t'::regclass) AS constraints,
       (SELECT relrowsecurity FROM pg_class WHERE oid = 'im_t'::regclass) AS rls;
SELECT * FROM im_digest;
-- producing still works and is not rewritten
SELECT * FROM topics.produce('im_t', 'k21', 'v21', NULL, 1);
SELECT key FROM im_t WHERE partition = 1 ORDER BY seq DESC LIMIT 1;
INSERT INTO im_before SELECT * FROM im_t WHERE key = 'k21';

-- the guard only concerns topics
CREATE TABLE im_plain (a integer);
ALTER TABLE im_plain ADD COLUMN b integer;
CREATE TRIGGER im_plain_trig BEFORE INSERT ON im_plain FOR EACH ROW EXECUTE FUNCTION im_trigger_fn();
DROP TABLE im_plain;

-- VACUUM, VACUUM FREEZE and ANALYZE work
VACUUM im_t;
VACUUM (VERBOSE OFF, ANALYZE) im_t;
ANALYZE im_t;
SELECT attname FROM pg_stats WHERE schemaname = 'public' AND tablename = 'im_t' ORDER BY attname;
-- VACUUM FREEZE advances relfrozenxid
SELECT relfrozenxid AS im_frozen_before FROM pg_class WHERE oid = 'im_t'::regclass \gset
SELECT txid_current() IS NOT NULL AS xid1;
SELECT txid_current() IS NOT NULL AS xid2;
SELECT * FROM topics.produce('im_t', 'k22', 'v22', NULL, 0);
INSERT INTO im_before SELECT * FROM im_t WHERE key = 'k22';
SELECT txid_current() IS NOT NULL AS xid3;
VACUUM FREEZE im_t;
SELECT relfrozenxid <> :'im_frozen_before'::xid AS changed,
       age(relfrozenxid) < age(:'im_frozen_before'::xid) AS advanced
FROM pg_class WHERE oid = 'im_t'::regclass;
-- the records survive vacuuming and can still be read
SELECT * FROM im_digest;
SELECT count(*) FROM topics.fetch('im_t', 0, 0);
SELECT count(*) FROM topics.fetch('im_t', 1, 0);
-- vacuum after an abort keeps the gap, and the seq is not reused
BEGIN;
SELECT * FROM topics.produce('im_t', 'aborted', 'x', NULL, 0);
ROLLBACK;
VACUUM im_t;
VACUUM FREEZE im_t;
SELECT * FROM topics.produce('im_t', 'k23', 'v23', NULL, 0);
INSERT INTO im_before SELECT * FROM im_t WHERE key = 'k23';
SELECT * FROM im_digest;
SELECT count(*) AS aborted_visible FROM im_t WHERE key = 'aborted';

-- a topic cannot be turned into a table of another access method
SELECT topics.create_topic('im_am', 1);
SELECT * FROM topics.produce('im_am', 'k', 'v');
SELECT im_try('ALTER TABLE im_am SET ACCESS METHOD heap') AS sqlstate;
-- the message, with where to go instead
ALTER TABLE im_am SET ACCESS METHOD heap;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'im_am'::regclass;
UPDATE im_am SET key = 'changed';
SELECT key FROM im_am;

-- Since 0.9 the guard looks at the whole inheritance tree of the table a
-- command names: an ALTER TABLE, a column rename or a trigger on a parent
-- or partitioned table reached a topic under it (a column added so crashed
-- a later SELECT of it), and constraints, defaults and triggers applied to
-- INSERT but not to produce.  Topics stay out of inheritance trees and
-- partitioned tables, and refuse foreign keys (triggers) and ON CONFLICT
-- (which, without a target, inserted).
CREATE TABLE im_parent (partition integer, seq bigint, ts timestamptz, key text, value bytea,
                        headers jsonb) PARTITION BY LIST (partition);
CREATE TABLE im_plain (partition integer, seq bigint, ts timestamptz, key text, value bytea, headers jsonb);
CREATE TABLE im_keys (k text PRIMARY KEY);
SELECT topics.create_topic('im_e', 1);    -- empty: nothing for the checks to trip on
SELECT cmd, im_try(cmd) AS sqlstate FROM (VALUES
    ('CREATE TABLE im_part0 PARTITION OF im_parent FOR VALUES IN (0) USING topic_log'),
    ('ALTER TABLE im_parent ATTACH PARTITION im_e FOR VALUES IN (1)'),
    ('ALTER TABLE im_t INHERIT im_plain'),
    ('CREATE TABLE im_child () INHERITS (im_t)'),
    ('ALTER TABLE im_e ADD CONSTRAINT im_fk FOREIGN KEY (key) REFERENCES im_keys (k)'),
    ('INSERT INTO im_t (key, value) VALUES (''k'', ''v'') ON CONFLICT DO NOTHING'),
    ('INSERT INTO im_t (key, value) VALUES (''k'', ''v'') ON CONFLICT (seq) DO NOTHING')
) v(cmd);
-- ON CONFLICT reaching a topic through a view or a rule: refused after
-- rewriting (until 0.9 both inserted)
CREATE VIEW im_ev AS SELECT * FROM im_e;
CREATE VIEW im_rv AS SELECT key, value FROM im_e;
CREATE RULE im_r AS ON INSERT TO im_rv DO INSTEAD
    INSERT INTO im_e (key, value) VALUES (new.key, new.value) ON CONFLICT DO NOTHING;
SELECT cmd, im_try(cmd) AS sqlstate FROM (VALUES
    ('INSERT INTO im_ev (key, value) VALUES (''k'', ''v'') ON CONFLICT DO NOTHING'),
    ('INSERT INTO im_rv (key, value) VALUES (''k'', ''v'')'),
    ('WITH w AS (INSERT INTO im_ev (key, value) VALUES (''k'', ''v'') ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM w')
) v(cmd);
SELECT count(*) AS records_in_im_e FROM im_e;
DROP VIEW im_ev, im_rv;
SELECT count(*) AS in_trees FROM pg_inherits
WHERE inhrelid IN ('im_t'::regclass, 'im_e'::regclass) OR inhparent IN ('im_t'::regclass, 'im_e'::regclass);
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid IN ('im_t'::regclass, 'im_e'::regclass);
SELECT * FROM im_digest;
\set VERBOSITY default
ALTER TABLE im_t INHERIT im_plain;
\set VERBOSITY terse
DROP TABLE im_parent, im_plain, im_keys, im_e;

DROP VIEW im_digest;
DROP TABLE im_t, im_am;
DROP FUNCTION im_trigger_fn();
DROP FUNCTION im_try(text);
