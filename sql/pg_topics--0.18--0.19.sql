-- pg_topics 0.18 -> 0.19
--
-- consume() moves its records once.  Until 0.19 it was a PL/pgSQL function
-- whose RETURN QUERY copied every record _consume_partition had put into
-- its result into consume's own result, a second time: in a profile of a
-- consume loop (1000 records a call) that copy was 37% of the call, more
-- than reading the records.  consume is now C (topic_consume.c): it runs
-- the look at the group (its checks, the group's rows when missing, the
-- partitions with records waiting) through topics._consume_look, below,
-- which is the PL/pgSQL of 0.18's loop unchanged, then locks a partition's
-- position and reads the records straight into its result.  What it does,
-- its errors and its locks are those of 0.18.  It calls the look through
-- fmgr, not as a statement, so EXECUTE on consume is all a consumer needs,
-- as before (a statement would need EXECUTE on the look too, which a
-- database whose functions are not PUBLIC's by default, or a restore into
-- one, gives nobody: a review's finding).

CREATE FUNCTION topics._consume_look(group_id text, topic regclass, first boolean, waiting boolean,
                                     OUT generation bigint, OUT candidates integer[])
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reset text;
    known integer;
    nparts bigint;
    lock_key bigint;
    group_open boolean;
    owner_oid oid;
    maker boolean;
BEGIN
    IF first THEN
        PERFORM topics._check_group_id(_consume_look.group_id);
        PERFORM topics.partition_bounds(_consume_look.topic);    -- a topic, readable by the caller
    END IF;
    -- the caller may move the group, at every look: its owner may have
    -- changed while the member waited (since 0.18)
    PERFORM topics._check_group_access(_consume_look.group_id, _consume_look.topic);
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
    -- topic, as a pool's login role that SETs ROLE does (until 0.16 a
    -- role without any privilege on the topic that held the key kept the
    -- group from starting, or from taking up added partitions), and,
    -- since 0.18, one that may use the group.  A holder that does not
    -- count is still left to make the rows when another transaction is
    -- making them (_group_rows_in_progress: a member whose login role
    -- is not the group's, calling through a SECURITY DEFINER function,
    -- say; a role that may not use the group cannot make them).
    -- (A partition without a position is found by counting: the
    -- anti-join the planner chose went quadratic in the partitions.)
    nparts := (SELECT count(*) FROM topics.partition_bounds(_consume_look.topic));
    SELECT g.owner IS NULL, (SELECT r.oid FROM pg_roles r WHERE r.rolname = g.owner)
    INTO group_open, owner_oid
    FROM topics.consumer_groups g
    WHERE g.group_id = _consume_look.group_id AND g.topic = _consume_look.topic;
    IF NOT FOUND
       OR (SELECT count(*) FROM topics.committed_offsets x
           WHERE x.group_id = _consume_look.group_id AND x.topic = _consume_look.topic
             AND x.partition < nparts) < nparts THEN
        group_open := coalesce(group_open, true);   -- not made yet: anybody's
        lock_key := hashtextextended('pg_topics consumer group ' || _consume_look.topic::oid
                                     || ' ' || _consume_look.group_id, 0);
        maker := pg_try_advisory_xact_lock(lock_key)
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
                                           AND has_table_privilege(r.oid, _consume_look.topic, 'SELECT')
                                           AND (group_open
                                                OR pg_has_role(r.oid, coalesce(owner_oid, 0), 'USAGE')
                                                OR pg_has_role(r.oid, (SELECT c.relowner FROM pg_class c
                                                                       WHERE c.oid = _consume_look.topic),
                                                               'USAGE'))))
               AND NOT topics._group_rows_in_progress(_consume_look.group_id, _consume_look.topic);
        IF maker THEN
            INSERT INTO topics.consumer_groups AS g (group_id, topic)
            VALUES (_consume_look.group_id, _consume_look.topic)
            ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
            SELECT g.auto_offset_reset INTO reset FROM topics.consumer_groups g
            WHERE g.group_id = _consume_look.group_id AND g.topic = _consume_look.topic;
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
            WHERE x.group_id = _consume_look.group_id AND x.topic = _consume_look.topic;
            IF reset = 'latest' THEN
                -- the last stable offset: records of a transaction still
                -- running come before next_seq and are the group's once it
                -- commits (Kafka's read_committed "latest" is the LSO)
                INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq,
                                                          topic_partitions)
                SELECT _consume_look.group_id, _consume_look.topic, i.partition,
                       CASE WHEN i.partition >= known THEN i.log_start_seq
                            ELSE i.last_stable_seq END,
                       nparts
                FROM topics.partition_info(_consume_look.topic) i
                WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                  WHERE x.group_id = _consume_look.group_id AND x.topic = _consume_look.topic
                                    AND x.partition = i.partition)
                ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
            ELSE
                INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq,
                                                          topic_partitions)
                SELECT _consume_look.group_id, _consume_look.topic, b.partition, b.log_start_seq,
                       nparts
                FROM topics.partition_bounds(_consume_look.topic) b
                WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                                  WHERE x.group_id = _consume_look.group_id AND x.topic = _consume_look.topic
                                    AND x.partition = b.partition)
                ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;
            END IF;
        END IF;
    END IF;

    IF waiting THEN
        generation := topics._wait_generation(_consume_look.topic);   -- before looking
    END IF;
    -- the partitions with records waiting, the most first, taken in
    -- that order when no other member of the group holds them; the row
    -- lock lasts until our transaction ends (until 0.13 the whole query
    -- ran again after each partition with nothing to read: quadratic in
    -- the partitions after a rolled-back batch across them)
    candidates := ARRAY(
        SELECT o.partition
        FROM topics.committed_offsets o
        JOIN topics.partition_bounds(_consume_look.topic) b ON b.partition = o.partition
        WHERE o.group_id = _consume_look.group_id AND o.topic = _consume_look.topic
          AND b.next_seq <> o.seq    -- past the end too: _consume_partition resets it
        ORDER BY b.next_seq - o.seq DESC, o.partition);
END;
$$;
COMMENT ON FUNCTION topics._consume_look(text, regclass, boolean, boolean) IS
'internal: one look of consume() at a group: its checks (the group id and the topic at the first look), the group''s rows made when missing, the wait generation when waiting, and the partitions with records waiting, the most first';

CREATE OR REPLACE FUNCTION topics.consume(group_id text, topic regclass, max_records integer DEFAULT 1000,
                               wait interval DEFAULT '0')
RETURNS SETOF topics.record
AS 'MODULE_PATHNAME', 'pg_topics_consume'
LANGUAGE C
COST 100;   -- as the PL/pgSQL function was costed: plans that call it stay the same
