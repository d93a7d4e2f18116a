-- pg_topics 0.17 -> 0.18
--
-- Consumer groups have owners, as Kafka groups have ACLs.  Until 0.18 any
-- role that could read a topic could consume as, commit, reset or delete
-- every group on it: one team's consumer could move another team's
-- positions.  A group now belongs to a role, the one that made it (that
-- first consumed, committed or set its auto_offset_reset), and only roles
-- that have that role's privileges (members that inherit it, as for any
-- privilege) or those of the topic's owner may move, reset, delete or give
-- it away.  Every role that may read the topic still sees its groups and
-- their positions (topics.consumer_lag), as monitoring needs.  The owner
-- is kept by name, as a dump keeps GRANTs and as Kafka names principals.
--
-- Groups made before 0.18 have no owner (NULL) and stay open to every
-- reader of the topic, as they were; the topic's owner gives one an owner
-- with topics.set_consumer_group_owner (only it: any reader taking a group
-- other readers use would lock them out).  Several login roles that share
-- a group share a role: make the group's owner a role they are all members
-- of.

-- In the library: a retention or compaction run that did not commit is
-- settled (its records' out-of-line values deleted) also on topics
-- without settings, by the maintenance worker once the topic's
-- relfrozenxid is due for an aggressive VACUUM, and by a compaction that
-- is not due; VACUUM warns while such a run holds relfrozenxid back; a
-- run that removes nothing takes no transaction id; and the key that signs
-- shard iterators (topics._secret) is read at every use, so replacing it
-- revokes the iterators issued in every session at once.

ALTER TABLE topics.consumer_groups ADD COLUMN owner name;
-- rows made from now on belong to the role that makes them (the rows
-- above, made before, stay open); PUBLIC may not write the column:
-- set_consumer_group_owner does, as the tables' owner, after its checks
ALTER TABLE topics.consumer_groups ALTER COLUMN owner SET DEFAULT CURRENT_USER;
-- A group's rows keep their group and topic: PUBLIC could rename a group
-- it may use (an UPDATE of group_id or topic, granted since 0.10), leaving
-- its positions to the next maker of that id, or take an open group by
-- renaming it and making it again.  The functions set only the positions'
-- seq and the group's auto_offset_reset.
REVOKE UPDATE (group_id, topic) ON topics.consumer_groups FROM PUBLIC;
REVOKE UPDATE (group_id, topic, partition) ON topics.committed_offsets FROM PUBLIC;
-- A position needs its group's row from now on (the policies below):
-- positions stored without one before (by hand, or by 0.1's functions)
-- get an open group, as they were open.
INSERT INTO topics.consumer_groups (group_id, topic, owner)
SELECT DISTINCT o.group_id, o.topic, NULL::name
FROM topics.committed_offsets o
WHERE NOT EXISTS (SELECT 1 FROM topics.consumer_groups g
                  WHERE g.group_id = o.group_id AND g.topic = o.topic);
COMMENT ON COLUMN topics.consumer_groups.owner IS
'the role whose members (and the topic''s owner) may consume as, commit, reset, delete or give away the group; NULL: every reader of the topic (groups made before 0.18)';

-- Whether the current role may move a group of the topic owned by
-- "owner" (NULL: open), or the group of that id (one without a row: no,
-- so that nobody stores positions for a group before its maker does): a
-- role with the privileges of the owner or of the topic's owner.  The
-- group's row is read with the latest snapshot, not the statement's.  An
-- owner that was dropped or renamed leaves the group to the topic's owner.
-- C: the policies below call them for every row consume locks and moves.
CREATE FUNCTION topics._may_use_group(topic regclass, owner name)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_topics_may_use_group'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION topics._may_use_group(regclass, name) IS
'internal: whether the current role may move a group of the topic owned by "owner"';
CREATE FUNCTION topics._may_use_group_id(topic regclass, group_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_topics_may_use_group_id'
LANGUAGE C STABLE PARALLEL RESTRICTED;     -- the latest snapshot is not for parallel workers
COMMENT ON FUNCTION topics._may_use_group_id(regclass, text) IS
'internal: whether the current role may move the consumer group of that id on the topic';

-- Readers of the topic see every group on it; writing a group's rows
-- takes the right to use it.
DROP POLICY readers_of_the_topic ON topics.consumer_groups;
CREATE POLICY readers_of_the_topic ON topics.consumer_groups FOR SELECT
    USING (has_table_privilege(topic, 'SELECT')
           AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE'));
CREATE POLICY users_of_the_group ON topics.consumer_groups FOR INSERT
    WITH CHECK (has_table_privilege(topic, 'SELECT')
                AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic)
                AND topics._may_use_group(topic, owner));
CREATE POLICY users_of_the_group_update ON topics.consumer_groups FOR UPDATE
    USING (topics._may_use_group(topic, owner))
    WITH CHECK (has_table_privilege(topic, 'SELECT')
                AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic)
                AND topics._may_use_group(topic, owner));

DROP POLICY readers_of_the_topic ON topics.committed_offsets;
CREATE POLICY readers_of_the_topic ON topics.committed_offsets FOR SELECT
    USING (has_table_privilege(topic, 'SELECT')
           AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE'));
CREATE POLICY users_of_the_group ON topics.committed_offsets FOR INSERT
    WITH CHECK (has_table_privilege(topic, 'SELECT')
                AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic)
                AND topics._may_use_group_id(topic, group_id));
CREATE POLICY users_of_the_group_update ON topics.committed_offsets FOR UPDATE
    USING (topics._may_use_group_id(topic, group_id))
    WITH CHECK (has_table_privilege(topic, 'SELECT')
                AND has_schema_privilege((SELECT c.relnamespace FROM pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic)
                AND topics._may_use_group_id(topic, group_id));

-- The functions that move a group say why they may not, rather than
-- leave it to the policies (whose refusals name the extension's tables, or
-- are silent: a row the caller may not lock is skipped).
CREATE FUNCTION topics._check_group_access(group_id text, topic regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_topics_check_group_access'
LANGUAGE C STABLE;
COMMENT ON FUNCTION topics._check_group_access(text, regclass) IS
'internal: refuse moving a consumer group the current role may not use';

-- Whether another transaction is making the group's rows (consume; C,
-- with a dirty snapshot)
CREATE FUNCTION topics._group_rows_in_progress(group_id text, topic regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pg_topics_group_rows_in_progress'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION topics._group_rows_in_progress(text, regclass) IS
'internal: whether another transaction, still running, is making rows of the consumer group';

-- Giving a group away checks who gives it to whom (see README), then
-- writes the row as the tables' owner, as delete_consumer_group deletes.
CREATE FUNCTION topics.set_consumer_group_owner(group_id text, topic regclass, owner regrole)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_topics_set_consumer_group_owner'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION topics.set_consumer_group_owner(text, regclass, regrole) IS
'give a consumer group to a role (NULL: open to every reader of the topic; the topic''s owner only), making the group when it does not exist';

-- delete_consumer_group (C) makes the same check, before it deletes as
-- the tables' owner; it deletes the group's positions and keeps its row,
-- with its owner and setting (an open group's row went, and the next
-- member made the group again as its own, so any reader could take it; a
-- position stored meanwhile was left without its group).  commit, consume and set_auto_offset_reset call it;
-- consume's advisory-lock holder must also be a role that may use the
-- group, unless another transaction is making the group's rows.

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
    PERFORM topics._check_group_access(commit.group_id, commit.topic);
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
    group_open boolean;
    owner_oid oid;
    maker boolean;
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
        -- the caller may move the group, at every look: its owner may have
        -- changed while the member waited (since 0.18)
        PERFORM topics._check_group_access(consume.group_id, consume.topic);
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
        nparts := (SELECT count(*) FROM topics.partition_bounds(consume.topic));
        SELECT g.owner IS NULL, (SELECT r.oid FROM pg_roles r WHERE r.rolname = g.owner)
        INTO group_open, owner_oid
        FROM topics.consumer_groups g
        WHERE g.group_id = consume.group_id AND g.topic = consume.topic;
        IF NOT FOUND
           OR (SELECT count(*) FROM topics.committed_offsets x
               WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                 AND x.partition < nparts) < nparts THEN
            group_open := coalesce(group_open, true);   -- not made yet: anybody's
            lock_key := hashtextextended('pg_topics consumer group ' || consume.topic::oid
                                         || ' ' || consume.group_id, 0);
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
                                               AND has_table_privilege(r.oid, consume.topic, 'SELECT')
                                               AND (group_open
                                                    OR pg_has_role(r.oid, coalesce(owner_oid, 0), 'USAGE')
                                                    OR pg_has_role(r.oid, (SELECT c.relowner FROM pg_class c
                                                                           WHERE c.oid = consume.topic),
                                                                   'USAGE'))))
                   AND NOT topics._group_rows_in_progress(consume.group_id, consume.topic);
            IF maker THEN
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
    PERFORM topics._check_group_access(set_auto_offset_reset.group_id, set_auto_offset_reset.topic);
    INSERT INTO topics.consumer_groups AS g (group_id, topic, auto_offset_reset)
    VALUES (set_auto_offset_reset.group_id, set_auto_offset_reset.topic, lower(set_auto_offset_reset.auto_offset_reset))
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey
    DO UPDATE SET auto_offset_reset = EXCLUDED.auto_offset_reset;
END;
$$;
