/* pg_topics 0.11 -> 0.12: a dump carries the seqs a TRUNCATE leaves; auto_offset_reset per partition, kept by delete_consumer_group; consumer_lag of partitions without a position */

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
-- a trigger function can be attached to any table its user may create a
-- trigger on; the C function also refuses any table but this one
REVOKE EXECUTE ON FUNCTION topics._restore_truncation_point() FROM PUBLIC;
CREATE TRIGGER restore_truncation_point
    AFTER INSERT OR UPDATE ON topics.truncation_points
    FOR EACH ROW EXECUTE FUNCTION topics._restore_truncation_point();

-- Partitions that a TRUNCATE before 0.12 left empty: partitions past seq 0
-- without a record to read (a TRUNCATE, then perhaps only rolled-back
-- produces; retention always keeps a partition's last page, so nothing
-- else empties one).  Their next seq is the point.  The topic is locked in
-- SHARE mode first, so that no producer still running gives the partition
-- records below it; the trigger finds each at its point already.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass
             FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
             WHERE c.relkind = 'r'
    LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM topics.partition_bounds(t) b
                                  WHERE b.next_seq > 0
                                    AND NOT EXISTS (SELECT 1 FROM topics.fetch(t, b.partition,
                                                                               b.log_start_seq, 1)));
        EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', t);
        INSERT INTO topics.truncation_points (topic, partition, next_seq)
        SELECT t, b.partition, b.next_seq
        FROM topics.partition_bounds(t) b
        WHERE b.next_seq > 0
          AND NOT EXISTS (SELECT 1 FROM topics.fetch(t, b.partition, b.log_start_seq, 1));
    END LOOP;
END
$$;

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

------------------------------------------------------------------------
-- Consumer groups: auto_offset_reset for every partition without a
-- position, a setting that outlives delete_consumer_group, and a lag view
-- that counts partitions a group has no position on yet
------------------------------------------------------------------------

-- Every position notes the topic's partition count when it was first
-- stored: the group's smallest such count is the count it began with, and
-- partitions from it on were added to the topic after the group began, so
-- consume starts them at their log start whatever auto_offset_reset says.
-- Only inserts write it, so consume and commit lock no row they did not
-- lock before.  Positions stored before 0.12 note 0, as do those a dump of
-- an older version restores (the default): their groups keep 0.11's rule
-- (every partition without a position starts at its log start).
ALTER TABLE topics.committed_offsets ADD COLUMN topic_partitions integer NOT NULL DEFAULT 0
    CHECK (topic_partitions >= 0);
COMMENT ON COLUMN topics.committed_offsets.topic_partitions IS
'the topic''s partition count when this position was first stored; partitions from the group''s smallest on start at their log start';
-- as the other columns (0.10): column privileges, row-level security
GRANT INSERT (topic_partitions) ON topics.committed_offsets TO PUBLIC;

CREATE OR REPLACE FUNCTION topics.consume(group_id text, topic regclass, max_records integer DEFAULT 1000,
                               wait interval DEFAULT '0')
RETURNS SETOF topics.record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reset text;
    known integer;
    gen bigint;
    part integer;
    pos bigint;
    deadline timestamptz;
    last_look boolean := false;
    tried integer[];
BEGIN
    IF group_id IS NULL OR topic IS NULL OR max_records IS NULL OR wait IS NULL THEN
        RAISE EXCEPTION 'group_id, topic, max_records and wait must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_records < 1 THEN
        RAISE EXCEPTION 'max_records must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF wait < interval '0' THEN
        RAISE EXCEPTION 'wait must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM topics._check_group_id(consume.group_id);
    deadline := clock_timestamp() + least(wait, interval '100 years');   -- as fetch caps it
    PERFORM topics.partition_bounds(consume.topic);    -- a topic, readable by the caller

    LOOP
        -- A new group (or new partitions) start where auto_offset_reset says,
        -- at every look: a group deleted while a member waits is made again
        -- when the member wakes, as its next call would make it (until 0.11
        -- the member found no rows, and slept on to its deadline).
        -- The member that makes the rows holds an advisory lock on the group
        -- until its transaction ends, and until then the rows are invisible to
        -- the other members, whose inserts would wait for that transaction:
        -- instead they leave the rows to it and find nothing to take yet, as
        -- when other members hold every partition.
        IF NOT EXISTS (SELECT 1 FROM topics.consumer_groups g
                       WHERE g.group_id = consume.group_id AND g.topic = consume.topic)
           OR EXISTS (SELECT 1 FROM topics.partition_bounds(consume.topic) b
                      WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                        WHERE x.group_id = consume.group_id
                                          AND x.topic = consume.topic
                                          AND x.partition = b.partition)) THEN
            IF pg_try_advisory_xact_lock(hashtextextended('pg_topics consumer group '
                                                          || consume.topic::oid || ' '
                                                          || consume.group_id, 0)) THEN
                INSERT INTO topics.consumer_groups AS g (group_id, topic)
                VALUES (consume.group_id, consume.topic)
                ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
                SELECT g.auto_offset_reset INTO reset FROM topics.consumer_groups g
                WHERE g.group_id = consume.group_id AND g.topic = consume.topic;
                -- A partition without a position starts where auto_offset_reset
                -- says, as in Kafka, except one added to the topic after the
                -- group's first position was stored (every position notes the
                -- partition count it was stored at; the smallest is the count
                -- the group began with, which later positions do not change):
                -- that holds only records produced since the group began,
                -- which it reads from the log start (until 0.10 they were
                -- skipped, as Kafka's "latest" skips the records of a partition
                -- produced before its consumers notice it).  Until 0.12 every partition of a group
                -- with a position anywhere counted as added, so a "latest"
                -- group with one position committed by hand read the whole
                -- history of the others; positions stored before 0.12 note 0,
                -- which keeps that rule for their groups.
                SELECT min(x.topic_partitions) INTO known FROM topics.committed_offsets x
                WHERE x.group_id = consume.group_id AND x.topic = consume.topic;
                IF reset = 'latest' THEN
                    -- the last stable offset: records of a transaction still
                    -- running come before next_seq and are the group's once it
                    -- commits (Kafka's read_committed "latest" is the LSO)
                    INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq,
                                                              topic_partitions)
                    SELECT consume.group_id, consume.topic, i.partition,
                           CASE WHEN i.partition >= known THEN i.log_start_seq
                                ELSE i.last_stable_seq END,
                           (SELECT count(*) FROM topics.partition_bounds(consume.topic))
                    FROM topics.partition_info(consume.topic) i
                    WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                      WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                        AND x.partition = i.partition)
                    ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
                ELSE
                    INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq,
                                                              topic_partitions)
                    SELECT consume.group_id, consume.topic, b.partition, b.log_start_seq,
                           (SELECT count(*) FROM topics.partition_bounds(consume.topic))
                    FROM topics.partition_bounds(consume.topic) b
                    WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                      WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                        AND x.partition = b.partition)
                    ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
                END IF;
            END IF;
        END IF;

        IF wait > interval '0' THEN
            gen := topics._wait_generation(consume.topic);   -- before looking
        END IF;
        tried := '{}';
        LOOP
            -- the partition with the most records waiting that no other
            -- member of the group holds and this call has not tried; the
            -- row lock lasts until our transaction ends
            SELECT o.partition, o.seq INTO part, pos
            FROM topics.committed_offsets o
            JOIN topics.partition_bounds(consume.topic) b ON b.partition = o.partition
            WHERE o.group_id = consume.group_id AND o.topic = consume.topic
              AND b.next_seq <> o.seq    -- past the end too: _consume_partition resets it
              AND o.partition <> ALL (tried)
            ORDER BY b.next_seq - o.seq DESC, o.partition
            FOR UPDATE OF o SKIP LOCKED
            LIMIT 1;
            EXIT WHEN NOT FOUND;

            -- the records, and the group's offset moved past the last one
            -- (a position that retention removed goes on at the log start,
            -- as a Kafka consumer resets on OffsetOutOfRange); when the
            -- partition has none to read yet (a transaction still open), or
            -- only aborted ones or none after the log start, which the
            -- offset moves past, the next partition
            RETURN QUERY SELECT * FROM topics._consume_partition(consume.group_id, consume.topic,
                                                                 part, pos, consume.max_records);
            IF FOUND THEN
                RETURN;
            END IF;
            tried := tried || part;
        END LOOP;

        -- at the deadline, one last look, as fetch and get_records take
        EXIT WHEN last_look OR wait = interval '0';
        last_look := clock_timestamp() >= deadline OR
            NOT topics._wait_for_records(consume.topic, gen, deadline);
    END LOOP;
END;
$$;


CREATE OR REPLACE FUNCTION topics.commit(group_id text, topic regclass, partition integer, seq bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    IF group_id IS NULL OR topic IS NULL OR partition IS NULL OR seq IS NULL THEN
        RAISE EXCEPTION 'group_id, topic, partition and seq must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM topics._check_group_id(commit.group_id);
    SELECT * INTO b FROM topics.partition_bounds(topic) AS pb WHERE pb.partition = commit.partition;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'partition % of topic "%" does not exist', partition, topic
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = (SELECT CASE WHEN count(*) = 1 THEN 'The topic has 1 partition, numbered 0.'
                                        ELSE format('The topic has %s partitions, numbered 0 to %s.',
                                                    count(*), count(*) - 1) END
                            FROM topics.partition_bounds(commit.topic));
    END IF;
    IF seq < 0 OR seq > b.next_seq THEN
        RAISE EXCEPTION 'seq % is out of range for partition % of topic "%"', seq, partition, topic
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A committed position is the next seq to read, between 0 and the next seq %s.', b.next_seq);
    END IF;
    INSERT INTO topics.consumer_groups AS g (group_id, topic)
    VALUES (commit.group_id, commit.topic)
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
    -- a position that exists moves; a new one notes the partition count
    -- (see consume), which only then is counted
    UPDATE topics.committed_offsets o SET seq = commit.seq, committed_at = now()
    WHERE o.group_id = commit.group_id AND o.topic = commit.topic AND o.partition = commit.partition;
    IF NOT FOUND THEN
        INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq, topic_partitions)
        VALUES (commit.group_id, commit.topic, commit.partition, commit.seq,
                (SELECT count(*) FROM topics.partition_bounds(commit.topic)))
        ON CONFLICT ON CONSTRAINT committed_offsets_pkey
        DO UPDATE SET seq = EXCLUDED.seq, committed_at = now();
    END IF;
END;
$$;


-- consumer_lag: every partition of every group that has a position, those
-- it has none on yet included (committed_seq NULL), with the records
-- consume would read there: from the log start, or none for a "latest"
-- group's partition that was not added after the group began; until 0.12
-- such partitions (added after the group last consumed) were missing, and
-- the view showed no lag while their records waited.
CREATE OR REPLACE VIEW topics.consumer_lag AS
    WITH g AS (
        SELECT o.group_id, o.topic, min(o.topic_partitions) AS known
        FROM topics.committed_offsets o
        WHERE topics._is_topic(o.topic)
        GROUP BY o.group_id, o.topic
    ), t AS (SELECT DISTINCT g.topic FROM g)
    SELECT g.group_id, g.topic, b.partition, o.seq AS committed_seq, b.next_seq,
           CASE WHEN o.seq IS NOT NULL THEN greatest(b.next_seq - greatest(o.seq, b.log_start_seq), 0)
                WHEN cg.auto_offset_reset = 'latest'
                     AND (g.known IS NULL OR b.partition < g.known) THEN 0
                ELSE b.next_seq - b.log_start_seq END AS lag
    FROM t
    CROSS JOIN LATERAL topics.partition_bounds(t.topic) b
    JOIN g ON g.topic = t.topic
    LEFT JOIN topics.consumer_groups cg ON cg.group_id = g.group_id AND cg.topic = g.topic
    LEFT JOIN topics.committed_offsets o
           ON o.group_id = g.group_id AND o.topic = g.topic AND o.partition = b.partition;
ALTER VIEW topics.consumer_lag SET (security_invoker = true);
