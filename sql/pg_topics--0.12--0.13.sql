-- pg_topics 0.12 -> 0.13
--
-- Messages of the functions written in SQL say what the C functions say
-- for the same condition: a topic by its name, not by its schema-qualified
-- regclass in quotes (""My Schema"."Odd Topic"", or "public.t1" in
-- functions that search pg_catalog only); create_topic with a NULL
-- partition count is null_value_not_allowed; the hint for a retention that
-- is not positive no longer points create_topic at alter_topic; commit()'s
-- error for a partition the topic does not have says which to use.
--
-- And, from a review of how the extension scales: consume picks among a
-- look's partitions in one pass instead of re-running its query after each
-- partition with nothing to read (with a rolled-back batch across 4000
-- partitions one call took 64 s), and finds partitions without a position
-- by counting; consumer_lag tells topics from other relations with a join
-- instead of a function call per position; positions and groups are
-- indexed by topic, so a DROP TABLE of any table no longer reads every
-- position.

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.13'" to load this file. \quit

CREATE OR REPLACE FUNCTION topics.drop_topic(topic regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF topic IS NULL THEN
        RAISE EXCEPTION 'topic must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                   WHERE c.oid = topic AND a.amname = 'topic_log') THEN
        RAISE EXCEPTION '"%" is not a topic', (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Topics are tables that use the topic_log access method; create them with topics.create_topic().';
    END IF;
    EXECUTE format('DROP TABLE %s', topic);
END;
$$;

CREATE OR REPLACE FUNCTION topics.alter_topic(topic regclass, partitions integer DEFAULT NULL,
                                              retention interval DEFAULT NULL,
                                              retention_bytes bigint DEFAULT NULL,
                                              cleanup_policy text DEFAULT NULL,
                                              reset_retention boolean DEFAULT false,
                                              reset_retention_bytes boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF topic IS NULL THEN
        RAISE EXCEPTION 'topic must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF partitions IS NOT NULL THEN
        -- more partitions only: keys hash modulo the count, so existing
        -- keys may map to new partitions from now on, as in Kafka
        PERFORM topics._set_partitions(topic, partitions);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN partition SET (n_distinct = %s)', topic, partitions);
    END IF;
    IF retention IS NOT NULL OR retention_bytes IS NOT NULL OR cleanup_policy IS NOT NULL
       OR reset_retention OR reset_retention_bytes THEN
        IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                       WHERE c.oid = topic AND a.amname = 'topic_log') THEN
            RAISE EXCEPTION '"%" is not a topic', (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
                USING ERRCODE = 'wrong_object_type',
                      HINT = 'Topics are tables that use the topic_log access method; create them with topics.create_topic().';
        END IF;
        PERFORM topics._set_config(topic, retention, retention_bytes, cleanup_policy,
                                   coalesce(reset_retention, false),
                                   coalesce(reset_retention_bytes, false));
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION topics._set_config(topic regclass, retention interval, retention_bytes bigint,
                                              cleanup_policy text, reset_retention boolean,
                                              reset_retention_bytes boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = topic), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF cleanup_policy NOT IN ('delete', 'compact', 'compact,delete') THEN
        RAISE EXCEPTION 'unknown cleanup_policy "%"', cleanup_policy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''delete'', ''compact'' or ''compact,delete''.';
    END IF;
    -- create_topic and alter_topic both come here: the hints serve both
    IF retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave retention NULL to keep records forever; alter_topic(..., reset_retention => true) removes a retention set before.';
    END IF;
    IF retention_bytes < 0 THEN
        RAISE EXCEPTION 'retention_bytes must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave retention_bytes NULL for no size limit; alter_topic(..., reset_retention_bytes => true) removes a limit set before.';
    END IF;
    INSERT INTO topics.topic_config AS c (topic, retention, retention_bytes, cleanup_policy)
    VALUES (topic, CASE WHEN reset_retention THEN NULL ELSE retention END,
            CASE WHEN reset_retention_bytes THEN NULL ELSE retention_bytes END,
            coalesce(cleanup_policy, 'delete'))
    ON CONFLICT ON CONSTRAINT topic_config_pkey DO UPDATE
    SET retention = CASE WHEN _set_config.reset_retention THEN NULL
                         ELSE coalesce(EXCLUDED.retention, c.retention) END,
        retention_bytes = CASE WHEN _set_config.reset_retention_bytes THEN NULL
                               ELSE coalesce(EXCLUDED.retention_bytes, c.retention_bytes) END,
        cleanup_policy = coalesce(_set_config.cleanup_policy, c.cleanup_policy);
END;
$$;

CREATE OR REPLACE FUNCTION topics._create_topic(name text, default_schema name, partitions integer,
                                                retention interval, retention_bytes bigint,
                                                cleanup_policy text)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ident text[];
    qualified text;
    rel regclass;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'topic name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF partitions IS NULL THEN
        RAISE EXCEPTION 'partitions must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF partitions < 1 THEN
        RAISE EXCEPTION 'partition count must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s partitions were requested.', partitions);
    END IF;
    -- the name follows SQL identifier rules, like a regclass: unquoted
    -- parts fold to lower case, "Quoted" parts keep their case; without a
    -- schema it goes where CREATE TABLE would put it
    ident := parse_ident(name);
    IF cardinality(ident) = 1 THEN
        IF default_schema IS NULL THEN
            RAISE EXCEPTION 'no schema has been selected to create in'
                USING ERRCODE = 'invalid_schema_name',
                      HINT = 'Qualify the topic name with a schema, or set search_path.';
        END IF;
        ident := ARRAY[default_schema::text] || ident;
    END IF;
    SELECT string_agg(quote_ident(part), '.') INTO qualified FROM unnest(ident) AS part;
    EXECUTE format('CREATE TABLE %s (partition integer, seq bigint, ts timestamptz, '
                   'key text, value bytea, headers jsonb) USING topic_log', qualified);
    rel := qualified::regclass;
    PERFORM topics._set_partitions(rel, partitions);
    -- the partition count, as the planner statistic pg_dump carries along
    EXECUTE format('ALTER TABLE %s ALTER COLUMN partition SET (n_distinct = %s)', rel, partitions);
    IF retention IS NOT NULL OR retention_bytes IS NOT NULL
       OR coalesce(cleanup_policy, 'delete') <> 'delete' THEN
        PERFORM topics._set_config(rel, retention, retention_bytes, cleanup_policy, false, false);
    END IF;
    RETURN rel;
END;
$$;

CREATE FUNCTION topics._partition_position(topic regclass, partition integer,
                                          OUT next_seq bigint, OUT partitions integer)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_topics_partition_position'
LANGUAGE C;
COMMENT ON FUNCTION topics._partition_position(regclass, integer) IS
'internal: one partition''s next seq (NULL when there is no such partition) and the partition count, for commit()';

-- commit: the body of 0.12, but for reading one partition's position
-- rather than every partition's bounds (7.5-16 ms a commit with 10000
-- partitions), and the messages above
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
    SELECT * INTO b FROM topics._partition_position(commit.topic, commit.partition);
    IF b.next_seq IS NULL THEN
        RAISE EXCEPTION 'partition % of topic "%" does not exist', partition,
                        (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN b.partitions = 1 THEN 'The topic has 1 partition, numbered 0.'
                                ELSE format('The topic has %s partitions, numbered 0 to %s.',
                                            b.partitions, b.partitions - 1) END,
                  HINT = CASE WHEN b.partitions = 1 THEN 'Use partition 0.'
                              ELSE format('Use a partition from 0 to %s.', b.partitions - 1) END;
    END IF;
    IF seq < 0 OR seq > b.next_seq THEN
        RAISE EXCEPTION 'seq % is out of range for partition % of topic "%"', seq, partition,
                        (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A committed position is the next seq to read, between 0 and the next seq %s.', b.next_seq);
    END IF;
    INSERT INTO topics.consumer_groups AS g (group_id, topic)
    VALUES (commit.group_id, commit.topic)
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
    -- a position that exists moves; a new one notes the partition count
    -- (see consume)
    UPDATE topics.committed_offsets o SET seq = commit.seq, committed_at = now()
    WHERE o.group_id = commit.group_id AND o.topic = commit.topic AND o.partition = commit.partition;
    IF NOT FOUND THEN
        INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq, topic_partitions)
        VALUES (commit.group_id, commit.topic, commit.partition, commit.seq, b.partitions)
        ON CONFLICT ON CONSTRAINT committed_offsets_pkey
        DO UPDATE SET seq = EXCLUDED.seq, committed_at = now();
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION topics._guard_rewrite()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel oid := pg_catalog.pg_event_trigger_table_rewrite_oid();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_am a ON a.oid = c.relam
               WHERE c.oid = rel AND a.amname = 'topic_log') THEN
        RAISE EXCEPTION 'cannot rewrite topic "%"', (SELECT c.relname FROM pg_class c WHERE c.oid = rel)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'ALTER TABLE cannot change a topic''s columns, persistence or access method.',
                  HINT = 'VACUUM FULL rewrites a topic''s storage; to make its records a table, create one and copy them with INSERT ... SELECT.';
    END IF;
END;
$$;

------------------------------------------------------------------------
-- Scale
------------------------------------------------------------------------

-- _forget_dropped_topics deletes by topic at every DROP TABLE, temporary
-- ones included; the keys start with the group
CREATE INDEX committed_offsets_topic ON topics.committed_offsets (topic);
CREATE INDEX consumer_groups_topic ON topics.consumer_groups (topic);

-- The definition of 0.12, with the test for a topic as a join: _is_topic
-- is a function with its own search_path, which the planner cannot inline,
-- and cost 10 us for every position of every group
CREATE OR REPLACE VIEW topics.consumer_lag AS
    WITH g AS (
        SELECT o.group_id, o.topic, min(o.topic_partitions) AS known
        FROM topics.committed_offsets o
        JOIN pg_catalog.pg_class c ON c.oid = o.topic
        JOIN pg_catalog.pg_am a ON a.oid = c.relam
        WHERE c.relkind = 'r' AND a.amname = 'topic_log'
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

-- consume: the body of 0.12, but for how it finds partitions without a
-- position and how it takes partitions in a look

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
    nparts bigint;
    candidates integer[];
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
        -- (A partition without a position is found by counting: the
        -- anti-join the planner chose went quadratic in the partitions.)
        nparts := (SELECT count(*) FROM topics.partition_bounds(consume.topic));
        IF NOT EXISTS (SELECT 1 FROM topics.consumer_groups g
                       WHERE g.group_id = consume.group_id AND g.topic = consume.topic)
           OR (SELECT count(*) FROM topics.committed_offsets x
               WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                 AND x.partition < nparts) < nparts THEN
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
                           nparts
                    FROM topics.partition_info(consume.topic) i
                    WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                      WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                        AND x.partition = i.partition)
                    ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
                ELSE
                    INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq,
                                                              topic_partitions)
                    SELECT consume.group_id, consume.topic, b.partition, b.log_start_seq,
                           nparts
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
        -- the partitions with records waiting, the most first, taken in
        -- that order when no other member of the group holds them; the row
        -- lock lasts until our transaction ends (until 0.13 the whole query
        -- ran again after each partition with nothing to read: quadratic in
        -- the partitions after a rolled-back batch across them)
        candidates := ARRAY(
            SELECT o.partition
            FROM topics.committed_offsets o
            JOIN topics.partition_bounds(consume.topic) b ON b.partition = o.partition
            WHERE o.group_id = consume.group_id AND o.topic = consume.topic
              AND b.next_seq <> o.seq    -- past the end too: _consume_partition resets it
            ORDER BY b.next_seq - o.seq DESC, o.partition);
        FOREACH part IN ARRAY candidates LOOP
            SELECT o.seq INTO pos
            FROM topics.committed_offsets o
            WHERE o.group_id = consume.group_id AND o.topic = consume.topic
              AND o.partition = part
            FOR UPDATE OF o SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;

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
        END LOOP;

        -- at the deadline, one last look, as fetch and get_records take
        EXIT WHEN last_look OR wait = interval '0';
        last_look := clock_timestamp() >= deadline OR
            NOT topics._wait_for_records(consume.topic, gen, deadline);
    END LOOP;
END;
$$;

