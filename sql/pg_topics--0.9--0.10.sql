/* pg_topics 0.9 -> 0.10: no role but the owner can lock the extension's tables; delete_consumer_group */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.10'" to load this file. \quit

------------------------------------------------------------------------
-- Settings and positions: column privileges, no table-level writes
------------------------------------------------------------------------

-- Until 0.10 PUBLIC held INSERT, UPDATE and DELETE on these tables, with
-- row-level security choosing the rows.  PostgreSQL lets a table-level
-- UPDATE or DELETE privilege take any lock with LOCK TABLE (directly, or
-- through a view the role owns), whatever the policies: any role could
-- lock topics.committed_offsets and hold up every consume and commit, and
-- DROP TABLE of any table (the dropped-topics event trigger deletes from
-- these tables), for as long as its transaction stayed open.  Column
-- privileges do not count for LOCK TABLE, but do for INSERT, UPDATE,
-- INSERT ... ON CONFLICT DO UPDATE and SELECT ... FOR UPDATE (consume's row
-- lock): PUBLIC keeps every write it had, row-level security still limits
-- it to the topics it may read (or owns, for the settings), and LOCK TABLE
-- is left to the owner, except ACCESS SHARE, which SELECT allows and only a
-- DROP or ALTER of the table itself waits for.  DELETE has no column form:
-- a group is deleted with topics.delete_consumer_group, and settings are
-- removed by alter_topic's reset_... arguments.  A column added to these
-- tables later needs its own grant.
REVOKE INSERT, UPDATE, DELETE ON topics.topic_config, topics.consumer_groups,
    topics.committed_offsets FROM PUBLIC;
GRANT INSERT (topic, retention, retention_bytes, cleanup_policy),
      UPDATE (topic, retention, retention_bytes, cleanup_policy)
    ON topics.topic_config TO PUBLIC;
GRANT INSERT (group_id, topic, auto_offset_reset, created_at),
      UPDATE (group_id, topic, auto_offset_reset, created_at)
    ON topics.consumer_groups TO PUBLIC;
GRANT INSERT (group_id, topic, partition, seq, committed_at),
      UPDATE (group_id, topic, partition, seq, committed_at)
    ON topics.committed_offsets TO PUBLIC;

CREATE FUNCTION topics.delete_consumer_group(group_id text, topic regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_topics_delete_consumer_group'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION topics.delete_consumer_group(text, regclass) IS
'forget a consumer group on a topic and its committed positions (needs SELECT on the topic); true if the group existed';

------------------------------------------------------------------------
-- Consumer groups: group ids, new partitions of "latest" groups, readers
------------------------------------------------------------------------

-- A group id is 1 to 1024 bytes.  An empty one was taken (Kafka refuses
-- it), and one of about 2.7 kB that did not compress failed in the primary
-- key's index with "index row size ... exceeds maximum", whose hint, an
-- index on an MD5 hash, is for the extension's tables, not for the caller.
-- Only the functions that make or move a group check it, so a group made
-- before 0.10 is still read and deleted.
CREATE FUNCTION topics._check_group_id(group_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF group_id = '' THEN
        RAISE EXCEPTION 'group_id must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(group_id) > 1024 THEN
        RAISE EXCEPTION 'group_id is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A group id is at most 1024 bytes; this one has %s.', octet_length(group_id));
    END IF;
END;
$$;
COMMENT ON FUNCTION topics._check_group_id(text) IS
'internal: refuse an empty group id or one over 1024 bytes';

-- consume: the group id is checked, and a "latest" group reads a partition
-- added after it began from the log start, which partitions added with
-- alter_topic are at.  A consume in a transaction also wakes the waiting
-- members of its group when the transaction ends (in C, since 0.10 too):
-- until then a member waiting for a partition that another member held
-- slept to its deadline or to the next commit of a producer.
CREATE OR REPLACE FUNCTION topics.consume(group_id text, topic regclass, max_records integer DEFAULT 1000,
                               wait interval DEFAULT '0')
RETURNS SETOF topics.record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reset text;
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

    -- A new group (or new partitions) start where auto_offset_reset says.
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
            -- "latest" for a new group; a partition added to a group that
            -- has positions already holds only records produced since the
            -- group began, which it reads from the log start (until 0.10
            -- they were skipped, as Kafka's "latest" skips the records of a
            -- partition produced before its consumers notice it)
            IF reset = 'latest' AND NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                                WHERE x.group_id = consume.group_id
                                                  AND x.topic = consume.topic) THEN
                -- the last stable offset: records of a transaction still
                -- running come before next_seq and are the group's once it
                -- commits (Kafka's read_committed "latest" is the LSO)
                INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
                SELECT consume.group_id, consume.topic, i.partition, i.last_stable_seq
                FROM topics.partition_info(consume.topic) i
                WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                  WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                    AND x.partition = i.partition)
                ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
            ELSE
                INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
                SELECT consume.group_id, consume.topic, b.partition, b.log_start_seq
                FROM topics.partition_bounds(consume.topic) b
                WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                  WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                                    AND x.partition = b.partition)
                ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
            END IF;
        END IF;
    END IF;

    LOOP
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
    INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
    VALUES (commit.group_id, commit.topic, commit.partition, commit.seq)
    ON CONFLICT ON CONSTRAINT committed_offsets_pkey
    DO UPDATE SET seq = EXCLUDED.seq, committed_at = now();
END;
$$;

CREATE OR REPLACE FUNCTION topics.set_auto_offset_reset(group_id text, topic regclass, auto_offset_reset text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF group_id IS NULL OR topic IS NULL OR auto_offset_reset IS NULL THEN
        RAISE EXCEPTION 'group_id, topic and auto_offset_reset must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM topics._check_group_id(set_auto_offset_reset.group_id);
    IF lower(auto_offset_reset) NOT IN ('earliest', 'latest') THEN
        RAISE EXCEPTION 'auto_offset_reset must be earliest or latest, not "%"', auto_offset_reset
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM topics.partition_bounds(topic);     -- a topic, readable by the caller
    INSERT INTO topics.consumer_groups AS g (group_id, topic, auto_offset_reset)
    VALUES (set_auto_offset_reset.group_id, set_auto_offset_reset.topic, lower(set_auto_offset_reset.auto_offset_reset))
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey
    DO UPDATE SET auto_offset_reset = EXCLUDED.auto_offset_reset;
END;
$$;

-- committed() of a topic the caller may not read returned no rows (the
-- policy hid them) where every other function fails with 42501
CREATE OR REPLACE FUNCTION topics.committed(group_id text, topic regclass)
RETURNS TABLE(partition integer, seq bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM topics.partition_bounds(committed.topic);     -- a topic, readable by the caller
    RETURN QUERY
    SELECT o.partition, o.seq FROM topics.committed_offsets o
    WHERE o.group_id = committed.group_id AND o.topic = committed.topic
    ORDER BY o.partition;
END;
$$;
