/* pg_topics 0.11 -> 0.12: a dump carries the seqs a TRUNCATE leaves */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.12'" to load this file. \quit

-- TRUNCATE keeps each partition's next seq, but a dump carries seqs only
-- through the records it copies: until 0.12 a partition a TRUNCATE had left
-- empty restarted at seq 0 after a restore, handing out again seqs that
-- consumers had seen.  TRUNCATE now records every partition's next seq here
-- (as the owner of this table: no role writes it directly), pg_dump carries
-- the rows, and the trigger below raises a restored partition without
-- records to its point, whether the rows load before or after the records.
CREATE TABLE topics.truncation_points (
    topic regclass NOT NULL,
    partition integer NOT NULL CHECK (partition >= 0),
    next_seq bigint NOT NULL CHECK (next_seq >= 0),
    truncated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (topic, partition)
);
COMMENT ON TABLE topics.truncation_points IS
'each partition''s next seq at the last TRUNCATE of its topic, which a dump carries; written by TRUNCATE';
ALTER TABLE topics.truncation_points ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers_of_the_topic ON topics.truncation_points FOR SELECT
    USING (pg_catalog.has_table_privilege(topic, 'SELECT'));
GRANT SELECT ON topics.truncation_points TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('topics.truncation_points', '');

CREATE FUNCTION topics._restore_truncation_point()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'topics_restore_truncation_point';
COMMENT ON FUNCTION topics._restore_truncation_point() IS
'raises a topic partition without records to the next seq of its truncation point';
CREATE TRIGGER restore_truncation_point
    AFTER INSERT OR UPDATE ON topics.truncation_points
    FOR EACH ROW EXECUTE FUNCTION topics._restore_truncation_point();

-- Partitions that a TRUNCATE before 0.12 left empty: a partition without
-- records past seq 0 has its log start at its next seq (retention always
-- keeps a partition's last page, so only TRUNCATE empties one).  The
-- trigger finds each at its point already.
INSERT INTO topics.truncation_points (topic, partition, next_seq)
SELECT c.oid::regclass, b.partition, b.next_seq
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
CROSS JOIN LATERAL topics.partition_bounds(c.oid::regclass) b
WHERE c.relkind = 'r' AND b.next_seq > 0 AND b.log_start_seq = b.next_seq;

-- DROP TABLE forgets the topic's truncation points too
CREATE OR REPLACE FUNCTION topics._forget_dropped_topics()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM topics.committed_offsets o
    USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND o.topic = d.objid;
    DELETE FROM topics.consumer_groups g
    USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND g.topic = d.objid;
    DELETE FROM topics.topic_config tc
    USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND tc.topic = d.objid;
    DELETE FROM topics.truncation_points tp
    USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND tp.topic = d.objid;
END;
$$;
