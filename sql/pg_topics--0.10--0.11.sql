/* pg_topics 0.10 -> 0.11: consume makes a group deleted while a member waits again; CREATE INDEX guard at ddl_command_start */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.11'" to load this file. \quit

-- consume: a group deleted (topics.delete_consumer_group) while a member
-- waits in consume is made again when the member next looks, from
-- auto_offset_reset, as the member's next call would make it; until 0.11 the
-- waiting member found no rows at each wake-up and slept to its deadline,
-- returning nothing while records came in.
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

-- CREATE INDEX on a topic is refused before the command starts.  The access
-- method's index build refuses it too, but CREATE INDEX CONCURRENTLY
-- commits the index's catalog entry first, and the invalid index it left
-- behind made VACUUM FULL and REINDEX of the topic fail until it was
-- dropped.  The library refuses it from a ProcessUtility hook once it is
-- loaded (always with the preload); this trigger loads it in any session.
CREATE FUNCTION topics._guard_index()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pg_topics_guard_index'
LANGUAGE C;
COMMENT ON FUNCTION topics._guard_index() IS
'internal: refuses CREATE INDEX on a topic before the command starts';

CREATE EVENT TRIGGER pg_topics_guard_index ON ddl_command_start
    WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION topics._guard_index();
