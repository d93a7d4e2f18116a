/* pg_topics 0.8 -> 0.9: search_path-safe functions, settings and positions only of topics, an extension schema nobody else owns */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.9'" to load this file. \quit

------------------------------------------------------------------------
-- The extension's schema belongs to its owner (or a superuser)
------------------------------------------------------------------------

-- CREATE EXTENSION puts the objects into schema topics, and takes the
-- schema as it finds it when it exists already.  The owner of a schema may
-- drop, rename and replace what is in it, so a schema created beforehand by
-- another role would let that role swap the extension's functions for its
-- own, which superusers (and, until 0.9, the maintenance worker) then run.
DO $$
DECLARE
    nsp_owner oid;
    ext_owner oid;
BEGIN
    SELECT n.nspowner, e.extowner INTO nsp_owner, ext_owner
    FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
    WHERE e.extname OPERATOR(pg_catalog.=) 'pg_topics';
    IF nsp_owner OPERATOR(pg_catalog.<>) ext_owner
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                WHERE r.oid OPERATOR(pg_catalog.=) nsp_owner) THEN
        RAISE EXCEPTION 'schema "topics" is owned by role "%", not by the owner of extension pg_topics',
                        (SELECT r.rolname FROM pg_catalog.pg_roles r
                         WHERE r.oid OPERATOR(pg_catalog.=) nsp_owner)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The owner of a schema can replace the objects in it.',
                  HINT = pg_catalog.format('Give the schema to the extension''s owner: ALTER SCHEMA topics OWNER TO %I.',
                                           (SELECT r.rolname FROM pg_catalog.pg_roles r
                                            WHERE r.oid OPERATOR(pg_catalog.=) ext_owner));
    END IF;
END;
$$;

------------------------------------------------------------------------
-- Functions that ran with the caller's search_path
------------------------------------------------------------------------

-- create_topic, alter_topic, drop_topic and the rewrite guard (an event
-- trigger, which runs in every session that alters a table) called
-- functions by unqualified name with the caller's search_path, so a role
-- that could create objects in a schema on it (public, by default before
-- PostgreSQL 15) could have a better-matching format(text, text) run as
-- whoever created a topic.  They now search pg_catalog only, like the
-- other functions.  create_topic needs the caller's current schema for an
-- unqualified name: a wrapper without settings reads it and passes it on.

CREATE FUNCTION topics._create_topic(name text, default_schema name, partitions integer,
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
    IF partitions IS NULL OR partitions < 1 THEN
        RAISE EXCEPTION 'partition count must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s partitions were requested.', coalesce(partitions::text, 'NULL'));
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
COMMENT ON FUNCTION topics._create_topic(text, name, integer, interval, bigint, text) IS
'internal: create_topic, with the caller''s current schema for an unqualified name';

-- Every call here has arguments of exactly the callee's types, schema-
-- qualified, so no search_path can make it call anything else.
CREATE OR REPLACE FUNCTION topics.create_topic(name text, partitions integer DEFAULT 1,
                                               retention interval DEFAULT NULL,
                                               retention_bytes bigint DEFAULT NULL,
                                               cleanup_policy text DEFAULT 'delete')
RETURNS regclass
LANGUAGE sql
AS $$
    SELECT topics._create_topic(name, pg_catalog.current_schema(), partitions,
                                retention, retention_bytes, cleanup_policy)
$$;

ALTER FUNCTION topics.alter_topic(regclass, integer, interval, bigint, text, boolean, boolean)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION topics.drop_topic(regclass) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION topics._guard_rewrite() SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- Settings and positions are kept for topics only
------------------------------------------------------------------------

-- The row-level security of these tables let the owner of any table (for
-- topic_config) or anybody who could read one (for the group tables)
-- store a row for it, though it was no topic: maintain() then failed on it,
-- for every topic of the database, and so did the maintenance worker, and
-- topics.consumer_lag failed for everybody.  New rows must name a topic;
-- maintain() and consumer_lag leave out rows that do not (stored before).
CREATE FUNCTION topics._is_topic(rel regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                   WHERE c.oid = rel AND c.relkind = 'r' AND a.amname = 'topic_log')
$$;
COMMENT ON FUNCTION topics._is_topic(regclass) IS
'internal: whether a relation is a topic (a table using topic_log)';

ALTER POLICY topic_config_owner ON topics.topic_config
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = topic), 'USAGE')
                AND topics._is_topic(topic));
-- and the settings of a topic are for those who may read it, as the topic
-- itself and topics.topics are
ALTER POLICY topic_config_read ON topics.topic_config USING (has_table_privilege(topic, 'SELECT'));
ALTER POLICY readers_of_the_topic ON topics.consumer_groups
    WITH CHECK (has_table_privilege(topic, 'SELECT') AND topics._is_topic(topic));
ALTER POLICY readers_of_the_topic ON topics.committed_offsets
    WITH CHECK (has_table_privilege(topic, 'SELECT') AND topics._is_topic(topic));

CREATE OR REPLACE VIEW topics.consumer_lag AS
    WITH t AS (SELECT DISTINCT o.topic FROM topics.committed_offsets o
               WHERE topics._is_topic(o.topic))
    SELECT o.group_id, o.topic, o.partition, o.seq AS committed_seq, b.next_seq,
           greatest(b.next_seq - greatest(o.seq, b.log_start_seq), 0) AS lag
    FROM t
    CROSS JOIN LATERAL topics.partition_bounds(t.topic) b
    JOIN topics.committed_offsets o ON o.topic = t.topic AND o.partition = b.partition;
ALTER VIEW topics.consumer_lag SET (security_invoker = true);

CREATE OR REPLACE FUNCTION topics.maintain(topic regclass DEFAULT NULL)
RETURNS SETOF topics.maintenance_result
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    r record;
    started timestamptz;
    res topics.maintenance_result;
    done boolean := false;
BEGIN
    FOR c IN SELECT tc.topic AS t, tc.retention, tc.retention_bytes, tc.cleanup_policy
             FROM topics.topic_config tc
             JOIN pg_class k ON k.oid = tc.topic
             WHERE ((maintain.topic IS NULL AND pg_has_role(k.relowner, 'USAGE'))
                    OR tc.topic = maintain.topic)
               AND topics._is_topic(tc.topic)
             ORDER BY tc.topic::oid
    LOOP
        done := true;
        started := clock_timestamp();
        FOR r IN
            SELECT d.partition, d.pages_removed, d.records_removed, d.log_start_seq
            FROM topics._apply_retention(c.t, c.retention, c.retention_bytes) d
            WHERE c.cleanup_policy = 'delete'
            UNION ALL
            SELECT k.partition, k.pages_removed, k.records_removed, k.log_start_seq
            FROM topics._compact(c.t) k
            WHERE c.cleanup_policy = 'compact'
            UNION ALL
            SELECT k.partition, k.pages_removed + d.pages_removed,
                   k.records_removed + d.records_removed, d.log_start_seq
            FROM topics._compact(c.t) k
            JOIN LATERAL topics._apply_retention(c.t, c.retention, c.retention_bytes) d
              ON d.partition = k.partition
            WHERE c.cleanup_policy = 'compact,delete'
        LOOP
            res.topic := c.t;
            res.partition := r.partition;
            res.pages_removed := r.pages_removed;
            res.records_removed := r.records_removed;
            res.log_start_seq := r.log_start_seq;
            res.millis := (extract(epoch FROM clock_timestamp() - started) * 1000)::bigint;
            RETURN NEXT res;
        END LOOP;
    END LOOP;
    IF maintain.topic IS NOT NULL AND NOT done THEN
        -- a topic without settings: nothing to remove, but check that it is
        -- a topic the caller owns and report its partitions
        FOR r IN SELECT * FROM topics._apply_retention(maintain.topic, NULL, NULL) LOOP
            res.topic := maintain.topic;
            res.partition := r.partition;
            res.pages_removed := 0;
            res.records_removed := 0;
            res.log_start_seq := r.log_start_seq;
            res.millis := 0;
            RETURN NEXT res;
        END LOOP;
    END IF;
END;
$$;


------------------------------------------------------------------------
-- A group position past a partition's end goes back by auto_offset_reset
------------------------------------------------------------------------

-- A restored dump goes on from each partition's last record, without the
-- unused seqs after it (an aborted tail, what was before a TRUNCATE); a
-- group whose position was past them then skipped, silently, every record
-- produced up to its position, and so did a group given a seq not yet
-- produced by commit().  Since 0.9 consume also takes such a partition,
-- and _consume_partition moves its position back by the group's
-- auto_offset_reset (a Kafka consumer's offset out of range), logging it.
-- And a wait, like fetch's and get_records', takes one last look at its
-- deadline, and is at most a century (a longer one overflowed the
-- deadline's timestamp).
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
            IF reset = 'latest' THEN
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
