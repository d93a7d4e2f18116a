/* pg_topics 0.1 -> 0.2: retention, topics.maintain(), dumpable settings */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.2'" to load this file. \quit

------------------------------------------------------------------------
-- Per-topic settings
------------------------------------------------------------------------

-- Kafka's retention.ms, retention.bytes (per partition) and cleanup.policy
-- ('delete': retention applies; 'compact': keep the latest record per key;
-- 'compact,delete': both).
-- A NULL limit means no limit.  Everybody may read the settings; only a
-- topic's owner may write them (row-level security, as for consumer
-- groups).  The table is dumped by pg_dump with the topics it describes.
CREATE TABLE topics.topic_config (
    topic regclass PRIMARY KEY,
    retention interval CHECK (retention > interval '0'),
    retention_bytes bigint CHECK (retention_bytes >= 0),
    cleanup_policy text NOT NULL DEFAULT 'delete'
        CHECK (cleanup_policy IN ('delete', 'compact', 'compact,delete'))
);
COMMENT ON TABLE topics.topic_config IS
'retention settings of topics (Kafka retention.ms, retention.bytes per partition, cleanup.policy)';
ALTER TABLE topics.topic_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY topic_config_read ON topics.topic_config FOR SELECT USING (true);
CREATE POLICY topic_config_owner ON topics.topic_config FOR ALL
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = topic), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = topic), 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON topics.topic_config TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('topics.topic_config', '');

-- Consumer groups and their committed positions are user data too: dump them.
SELECT pg_catalog.pg_extension_config_dump('topics.consumer_groups', '');
SELECT pg_catalog.pg_extension_config_dump('topics.committed_offsets', '');

-- Store settings of a topic the caller owns (NULL leaves a setting as it is).
CREATE FUNCTION topics._set_config(topic regclass, retention interval, retention_bytes bigint,
                                   cleanup_policy text, reset_retention boolean,
                                   reset_retention_bytes boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = topic), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', topic
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF cleanup_policy NOT IN ('delete', 'compact', 'compact,delete') THEN
        RAISE EXCEPTION 'unknown cleanup_policy "%"', cleanup_policy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''delete'', ''compact'' or ''compact,delete''.';
    END IF;
    IF retention <= interval '0' THEN
        RAISE EXCEPTION 'retention must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use alter_topic(..., reset_retention => true) to keep records forever.';
    END IF;
    IF retention_bytes < 0 THEN
        RAISE EXCEPTION 'retention_bytes must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use alter_topic(..., reset_retention_bytes => true) to remove the size limit.';
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
COMMENT ON FUNCTION topics._set_config(regclass, interval, bigint, text, boolean, boolean) IS
'internal: store retention settings of a topic the caller owns';

------------------------------------------------------------------------
-- create_topic and alter_topic gain retention settings
------------------------------------------------------------------------

DROP FUNCTION topics.create_topic(text, integer);
CREATE FUNCTION topics.create_topic(name text, partitions integer DEFAULT 1,
                                    retention interval DEFAULT NULL,
                                    retention_bytes bigint DEFAULT NULL,
                                    cleanup_policy text DEFAULT 'delete')
RETURNS regclass
LANGUAGE plpgsql
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
    -- parts fold to lower case, "Quoted" parts keep their case
    ident := parse_ident(name);
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
COMMENT ON FUNCTION topics.create_topic(text, integer, interval, bigint, text) IS
'create a topic (a table using topic_log) with the given number of partitions and retention settings';

DROP FUNCTION topics.alter_topic(regclass, integer);
CREATE FUNCTION topics.alter_topic(topic regclass, partitions integer DEFAULT NULL,
                                   retention interval DEFAULT NULL,
                                   retention_bytes bigint DEFAULT NULL,
                                   cleanup_policy text DEFAULT NULL,
                                   reset_retention boolean DEFAULT false,
                                   reset_retention_bytes boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
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
            RAISE EXCEPTION '"%" is not a topic', topic
                USING ERRCODE = 'wrong_object_type',
                      HINT = 'Topics are tables that use the topic_log access method.';
        END IF;
        PERFORM topics._set_config(topic, retention, retention_bytes, cleanup_policy,
                                   coalesce(reset_retention, false),
                                   coalesce(reset_retention_bytes, false));
    END IF;
END;
$$;
COMMENT ON FUNCTION topics.alter_topic(regclass, integer, interval, bigint, text, boolean, boolean) IS
'change a topic: add partitions (fewer is an error), set or reset retention settings';

-- Topics created by 0.1 get their partition count recorded for pg_dump.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT c.oid::regclass AS topic,
                    (SELECT count(*) FROM topics.partition_info(c.oid::regclass)) AS n
             FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
             WHERE c.relkind = 'r'
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN partition SET (n_distinct = %s)', t.topic, t.n);
    END LOOP;
END;
$$;

------------------------------------------------------------------------
-- Retention
------------------------------------------------------------------------

CREATE FUNCTION topics._apply_retention(topic regclass, retention interval, retention_bytes bigint,
    OUT partition integer, OUT pages_removed bigint, OUT records_removed bigint,
    OUT log_start_seq bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_topics_apply_retention'
LANGUAGE C;
COMMENT ON FUNCTION topics._apply_retention(regclass, interval, bigint) IS
'internal: remove whole old pages of every partition of a topic beyond the given limits';

CREATE FUNCTION topics._compact(topic regclass,
    OUT partition integer, OUT records_removed bigint, OUT pages_removed bigint,
    OUT log_start_seq bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_topics_compact'
LANGUAGE C;
COMMENT ON FUNCTION topics._compact(regclass) IS
'internal: remove records superseded by a later record of the same key (and old tombstones) from every partition of a topic';

CREATE TYPE topics.maintenance_result AS (
    topic regclass,
    partition integer,
    pages_removed bigint,
    records_removed bigint,
    log_start_seq bigint,
    millis bigint
);
COMMENT ON TYPE topics.maintenance_result IS
'what one maintenance run did to one partition';

CREATE FUNCTION topics.maintain(topic regclass DEFAULT NULL)
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
             WHERE (maintain.topic IS NULL AND pg_has_role(k.relowner, 'USAGE'))
                OR tc.topic = maintain.topic
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
COMMENT ON FUNCTION topics.maintain(regclass) IS
'apply retention and compaction now to one topic, or to every topic the caller owns: removes whole old pages and superseded records, advances the log start';

------------------------------------------------------------------------
-- Views and clean-up know about the settings
------------------------------------------------------------------------

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
    WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT');

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
END;
$$;

------------------------------------------------------------------------
-- Consumers: clear privilege errors, and a consumer_lag that shows only
-- the groups of topics the caller can read
------------------------------------------------------------------------

-- consume checks that the caller may read the topic before it creates the
-- group's rows (it used to fail on the row-level security policy instead).
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
    log_start bigint;
    last bigint;
    r topics.record;
    deadline timestamptz;
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
    deadline := clock_timestamp() + wait;
    PERFORM topics.partition_bounds(consume.topic);    -- a topic, readable by the caller

    -- a new group (or new partitions) start where auto_offset_reset says
    INSERT INTO topics.consumer_groups AS g (group_id, topic)
    VALUES (consume.group_id, consume.topic)
    ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING;
    SELECT g.auto_offset_reset INTO reset FROM topics.consumer_groups g
    WHERE g.group_id = consume.group_id AND g.topic = consume.topic;
    INSERT INTO topics.committed_offsets AS o (group_id, topic, partition, seq)
    SELECT consume.group_id, consume.topic, b.partition,
           CASE WHEN reset = 'latest' THEN b.next_seq ELSE b.log_start_seq END
    FROM topics.partition_bounds(consume.topic) b
    WHERE NOT EXISTS (SELECT 1 FROM topics.committed_offsets x
                      WHERE x.group_id = consume.group_id AND x.topic = consume.topic
                        AND x.partition = b.partition)
    ON CONFLICT ON CONSTRAINT committed_offsets_pkey DO NOTHING;

    LOOP
        IF wait > interval '0' THEN
            gen := topics._wait_generation(consume.topic);   -- before looking
        END IF;
        -- the partition with the most records waiting that no other member
        -- of the group holds; the row lock lasts until our transaction ends
        SELECT o.partition, o.seq, b.log_start_seq INTO part, pos, log_start
        FROM topics.committed_offsets o
        JOIN topics.partition_bounds(consume.topic) b ON b.partition = o.partition
        WHERE o.group_id = consume.group_id AND o.topic = consume.topic
          AND b.next_seq > o.seq
        ORDER BY b.next_seq - o.seq DESC, o.partition
        FOR UPDATE OF o SKIP LOCKED
        LIMIT 1;

        IF FOUND THEN
            IF pos < log_start THEN
                pos := log_start;       -- records before the log start are gone
            END IF;
            last := NULL;
            FOR r IN SELECT * FROM topics.fetch(consume.topic, part, pos, consume.max_records) LOOP
                RETURN NEXT r;
                last := r.seq;
            END LOOP;
            IF last IS NOT NULL THEN
                UPDATE topics.committed_offsets o SET seq = last + 1, committed_at = now()
                WHERE o.group_id = consume.group_id AND o.topic = consume.topic
                  AND o.partition = part;
                RETURN;
            END IF;
        END IF;

        EXIT WHEN clock_timestamp() >= deadline;
        EXIT WHEN NOT topics._wait_for_records(consume.topic, gen, deadline);
    END LOOP;
END;
$$;

-- consumer_lag applies the row-level security of committed_offsets as the
-- caller, so it lists only readable topics instead of failing on others.
ALTER VIEW topics.consumer_lag SET (security_invoker = true);
