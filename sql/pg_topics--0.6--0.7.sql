/* pg_topics 0.6 -> 0.7: the publication guard sees every way a topic comes under a publication; the rewrite guard names VACUUM FULL */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.7'" to load this file. \quit

-- 0.6 warned of a topic that a FOR ALL TABLES or FOR TABLES IN SCHEMA
-- publication takes in when the topic was made with CREATE TABLE or the
-- publication changed.  A topic also comes under one when it is made with
-- CREATE TABLE AS or SELECT INTO, moved into a published schema (ALTER
-- TABLE ... SET SCHEMA), or made from a table with ALTER TABLE ... SET
-- ACCESS METHOD topic_log; that last one may even be named in a
-- publication, which is refused, as naming a topic is.  Every other ALTER
-- TABLE (alter_topic setting the partition count, a new owner) neither
-- warns nor fails: _alter_table_change (topic_api.c) tells which ALTER
-- TABLE it was.
CREATE FUNCTION topics._alter_table_change(command pg_ddl_command)
RETURNS text
AS 'MODULE_PATHNAME', 'pg_topics_alter_table_change'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION topics._alter_table_change(pg_ddl_command) IS
'internal: for the publication guard, ''schema'' for ALTER TABLE ... SET SCHEMA, ''access method'' for ALTER TABLE ... SET ACCESS METHOD, else null';

CREATE OR REPLACE FUNCTION topics._guard_publication()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pubs oid[];
    t record;
BEGIN
    IF tg_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE') THEN
        -- a table that became a topic under a publication that names it
        -- (only ALTER TABLE ... SET ACCESS METHOD can do that): refuse
        SELECT p.pubname, c.oid::regclass AS topic INTO t
        FROM pg_event_trigger_ddl_commands() d
        JOIN pg_class c ON c.oid = d.objid
        JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
        JOIN pg_publication_rel r ON r.prrelid = c.oid
        JOIN pg_publication p ON p.oid = r.prpubid
        WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
          AND tg_tag = 'ALTER TABLE'
          AND topics._alter_table_change(d.command) = 'access method'
        ORDER BY p.pubname
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'cannot make table "%" a topic while publication "%" names it', t.topic, t.pubname
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Logical decoding does not see records stored in a topic: a subscriber would get the records present at its initial copy and none after.',
                      HINT = format('Drop the table from the publication first: ALTER PUBLICATION %I DROP TABLE %s.', t.pubname, t.topic);
        END IF;

        -- a topic that a publication now takes in: new, moved into a
        -- published schema, or made a topic
        FOR t IN
            SELECT p.pubname, c.oid::regclass AS topic
            FROM pg_event_trigger_ddl_commands() d
            JOIN pg_class c ON c.oid = d.objid
            JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
            CROSS JOIN LATERAL (SELECT CASE WHEN tg_tag <> 'ALTER TABLE' THEN 'create'
                                            ELSE topics._alter_table_change(d.command) END AS change) k
            JOIN pg_publication p
              ON (p.puballtables AND k.change <> 'schema')
              OR EXISTS (SELECT 1 FROM pg_publication_namespace n
                         WHERE n.pnpubid = p.oid AND n.pnnspid = c.relnamespace)
            WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
              AND k.change IS NOT NULL
            GROUP BY p.pubname, c.oid
            ORDER BY p.pubname, c.oid::regclass::text
        LOOP
            RAISE WARNING 'publication "%" takes in topic "%", whose records logical replication does not send', t.pubname, t.topic
                USING DETAIL = 'Logical decoding does not see records stored in a topic: a subscriber gets the records present at its initial copy and none after.',
                      HINT = 'Replicate topics with streaming replication, or have a consumer copy their records into a published table.';
        END LOOP;
        RETURN;
    END IF;

    -- the publications the command made or changed, whether it reported
    -- them, their tables or their schemas
    SELECT array_agg(DISTINCT x.pub) INTO pubs
    FROM pg_event_trigger_ddl_commands() d,
         LATERAL (SELECT d.objid AS pub WHERE d.classid = 'pg_publication'::regclass
                  UNION ALL
                  SELECT r.prpubid FROM pg_publication_rel r
                  WHERE d.classid = 'pg_publication_rel'::regclass AND r.oid = d.objid
                  UNION ALL
                  SELECT n.pnpubid FROM pg_publication_namespace n
                  WHERE d.classid = 'pg_publication_namespace'::regclass AND n.oid = d.objid) x;
    IF pubs IS NULL THEN
        RETURN;
    END IF;

    -- a topic named in one of them: refuse the command
    SELECT p.pubname, r.prrelid::regclass AS topic INTO t
    FROM pg_publication_rel r
    JOIN pg_publication p ON p.oid = r.prpubid
    JOIN pg_class c ON c.oid = r.prrelid
    JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
    WHERE r.prpubid = ANY (pubs)
    ORDER BY p.pubname, c.relname
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot add topic "%" to publication "%"', t.topic, t.pubname
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Logical decoding does not see records stored in a topic: a subscriber would get the records present at its initial copy and none after.',
                  HINT = 'Replicate topics with streaming replication, or have a consumer copy their records into a published table.';
    END IF;

    -- topics taken in by FOR ALL TABLES or FOR TABLES IN SCHEMA: warn
    FOR t IN
        SELECT p.pubname,
               string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid::regclass::text) AS topics
        FROM pg_publication p
        JOIN pg_class c
          ON c.relkind = 'r'
         AND (p.puballtables
              OR EXISTS (SELECT 1 FROM pg_publication_namespace n
                         WHERE n.pnpubid = p.oid AND n.pnnspid = c.relnamespace))
        JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
        WHERE p.oid = ANY (pubs)
        GROUP BY p.pubname
        ORDER BY p.pubname
    LOOP
        RAISE WARNING 'publication "%" takes in topics, whose records logical replication does not send', t.pubname
            USING DETAIL = format('Topics taken in: %s.  Logical decoding does not see records stored in a topic: a subscriber gets the records present at its initial copy and none after.', t.topics),
                  HINT = 'Replicate topics with streaming replication, or have a consumer copy their records into a published table.';
    END LOOP;
END;
$$;

-- An event trigger's tags cannot be altered: made again with the new ones.
DROP EVENT TRIGGER pg_topics_guard_publication;
CREATE EVENT TRIGGER pg_topics_guard_publication ON ddl_command_end
    WHEN TAG IN ('CREATE PUBLICATION', 'ALTER PUBLICATION', 'CREATE TABLE', 'CREATE TABLE AS',
                 'SELECT INTO', 'ALTER TABLE')
    EXECUTE FUNCTION topics._guard_publication();

-- Since VACUUM FULL rewrites a topic's storage (keeping every record's seq
-- and ts), the rewrite guard's message says what it still refuses, ALTER
-- TABLE's rewrites, and where to go instead.
CREATE OR REPLACE FUNCTION topics._guard_rewrite()
RETURNS event_trigger
LANGUAGE plpgsql
AS $$
DECLARE
    rel oid := pg_catalog.pg_event_trigger_table_rewrite_oid();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_am a ON a.oid = c.relam
               WHERE c.oid = rel AND a.amname = 'topic_log') THEN
        RAISE EXCEPTION 'cannot rewrite topic "%"', rel::regclass
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'ALTER TABLE cannot change a topic''s columns, persistence or access method.',
                  HINT = 'VACUUM FULL rewrites a topic''s storage; to make its records a table, create one and copy them with INSERT ... SELECT.';
    END IF;
END;
$$;
