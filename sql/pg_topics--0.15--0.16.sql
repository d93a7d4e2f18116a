-- pg_topics 0.15 -> 0.16
--
-- Findings of a security review (and of a review of its first fixes), and
-- one of a review of the README:
--
-- * The views topics.topics and topics.partitions ran with their owner's
--   rights (the superuser who created the extension), so topics.topics
--   read topics.topic_config past its row-level security, and a leaky
--   function in a caller's WHERE clause saw the retention settings of
--   topics the caller may not read before the view's privilege test
--   dropped them.  Both now run with the caller's rights, as
--   topics.consumer_lag has since 0.2.
-- * The C functions now also require USAGE on a topic's schema for reading
--   and producing (a regclass given as an OID skipped it), so the views,
--   which call partition_info for every topic they list, list only topics
--   in schemas the caller may use, and the policies of the extension's
--   tables show and take only such topics' rows.
-- * (In the library: only a topic's owner may give records explicit seqs.)
-- * consume: a role without any privilege on a topic could keep a consumer
--   group from starting, or from taking up added partitions, by holding the
--   advisory lock that the member making the group's rows takes (its key
--   is the topic's OID and the group id); a holder now counts only when its
--   login role, or a prepared transaction's owner, may become a role that
--   may read the topic.
-- * commit(..., seq => -1) failed with 22T01, the SQLSTATE a client takes
--   as "reset the position", for what is a mistaken argument: it is 22023
--   now, as in fetch and get_shard_iterator.

-- The extension's tables show and take the rows of topics the caller may
-- read, as the functions do: in schemas the caller may use too.
ALTER POLICY topic_config_read ON topics.topic_config
    USING (has_table_privilege(topic, 'SELECT')
           AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE'));
ALTER POLICY readers_of_the_topic ON topics.truncation_points
    USING (has_table_privilege(topic, 'SELECT')
           AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE'));
ALTER POLICY readers_of_the_topic ON topics.consumer_groups
    USING (has_table_privilege(topic, 'SELECT')
           AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE'))
    WITH CHECK (has_table_privilege(topic, 'SELECT')
                AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic));
ALTER POLICY readers_of_the_topic ON topics.committed_offsets
    USING (has_table_privilege(topic, 'SELECT')
           AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE'))
    WITH CHECK (has_table_privilege(topic, 'SELECT')
                AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic));

CREATE OR REPLACE VIEW topics.partitions AS
    SELECT c.oid::regclass AS topic, p.*
    FROM pg_class c
    JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
    CROSS JOIN LATERAL topics.partition_info(c.oid::regclass) AS p
    WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT')
      AND has_schema_privilege(c.relnamespace, 'USAGE');
ALTER VIEW topics.partitions SET (security_invoker = true);

CREATE OR REPLACE VIEW topics.topics AS
    SELECT c.oid::regclass AS topic,
           n.nspname AS schema_name,
           c.relname AS topic_name,
           (SELECT count(*) FROM topics.partition_info(c.oid::regclass))::integer AS partitions,
           pg_table_size(c.oid) AS bytes,
           tc.retention,
           tc.retention_bytes,
           coalesce(tc.cleanup_policy, 'delete') AS cleanup_policy
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
    LEFT JOIN topics.topic_config tc ON tc.topic = c.oid
    WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT')
      AND has_schema_privilege(c.relnamespace, 'USAGE');
ALTER VIEW topics.topics SET (security_invoker = true);

CREATE OR REPLACE VIEW topics.consumer_lag AS
    WITH g AS (
        SELECT o.group_id, o.topic, min(o.topic_partitions) AS known
        FROM topics.committed_offsets o
        JOIN pg_catalog.pg_class c ON c.oid = o.topic
        JOIN pg_catalog.pg_am a ON a.oid = c.relam
        WHERE c.relkind = 'r' AND a.amname = 'topic_log'
          AND has_schema_privilege(c.relnamespace, 'USAGE')
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
    IF seq < 0 THEN
        RAISE EXCEPTION 'seq must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A committed position is the next seq to read, from 0 up to the next seq.',
                  HINT = 'Commit one past the last record read, or a position from topics.partitions.';
    END IF;
    IF seq > b.next_seq THEN
        RAISE EXCEPTION 'seq % is out of range for partition % of topic "%"', seq, partition,
                        (SELECT c.relname FROM pg_class c WHERE c.oid = topic)
            USING ERRCODE = '22T01',
                  DETAIL = format('A committed position is the next seq to read, at most the next seq %s.', b.next_seq),
                  HINT = 'Commit one past the last record read, or a position from topics.partitions.';
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
    lock_key bigint;
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
        -- when other members hold every partition.  Any role may take an
        -- advisory lock, so a holder counts only when its login role (or a
        -- prepared transaction's owner) may become a role that may read the
        -- topic, as a pool's login role that SETs ROLE does: until 0.16 a
        -- role without any privilege on the topic that held the key kept the
        -- group from starting, or from taking up added partitions.
        -- (A partition without a position is found by counting: the
        -- anti-join the planner chose went quadratic in the partitions.)
        nparts := (SELECT count(*) FROM topics.partition_bounds(consume.topic));
        IF NOT EXISTS (SELECT 1 FROM topics.consumer_groups g
                       WHERE g.group_id = consume.group_id AND g.topic = consume.topic)
           OR (SELECT count(*) FROM topics.committed_offsets x
               WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                 AND x.partition < nparts) < nparts THEN
            lock_key := hashtextextended('pg_topics consumer group ' || consume.topic::oid
                                         || ' ' || consume.group_id, 0);
            IF pg_try_advisory_xact_lock(lock_key)
               OR NOT EXISTS (SELECT 1
                              FROM pg_locks l
                              LEFT JOIN pg_stat_activity s ON s.pid = l.pid
                              LEFT JOIN pg_locks lx
                                     ON l.pid IS NULL AND lx.locktype = 'transactionid'
                                    AND lx.virtualtransaction = l.virtualtransaction
                              LEFT JOIN pg_prepared_xacts x ON x.transaction = lx.transactionid
                              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                                AND l.database = (SELECT d.oid FROM pg_database d
                                                  WHERE d.datname = current_database())
                                AND l.classid = ((lock_key >> 32) & 4294967295)::oid
                                AND l.objid = (lock_key & 4294967295)::oid
                                AND EXISTS (SELECT 1 FROM pg_roles r
                                            WHERE pg_has_role(coalesce(s.usesysid,
                                                                       (SELECT a.oid FROM pg_roles a
                                                                        WHERE a.rolname = x.owner)),
                                                              r.oid, 'MEMBER')
                                              AND has_table_privilege(r.oid, consume.topic, 'SELECT'))) THEN
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
