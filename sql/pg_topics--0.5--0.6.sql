/* pg_topics 0.5 -> 0.6: topics are kept out of logical replication's publications */

\echo Use "ALTER EXTENSION pg_topics UPDATE TO '0.6'" to load this file. \quit

-- Logical decoding decodes heap's WAL records; a topic's records are
-- written as generic WAL, which it skips.  A publication that includes a
-- topic therefore sends a subscriber the records present at its initial
-- copy and none after, without an error anywhere.  So a topic cannot be
-- named in a publication (CREATE PUBLICATION ... FOR TABLE, ALTER
-- PUBLICATION ... ADD/SET TABLE), and a publication that takes topics in
-- without naming them (FOR ALL TABLES, FOR TABLES IN SCHEMA), or a topic
-- created where one does, draws a warning: those cannot leave one table out.
CREATE FUNCTION topics._guard_publication()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pubs oid[];
    t record;
BEGIN
    IF tg_tag = 'CREATE TABLE' THEN
        -- a new topic that a publication takes in
        FOR t IN
            SELECT p.pubname, c.oid::regclass AS topic
            FROM pg_event_trigger_ddl_commands() d
            JOIN pg_class c ON c.oid = d.objid
            JOIN pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
            JOIN pg_publication p
              ON p.puballtables
              OR EXISTS (SELECT 1 FROM pg_publication_namespace n
                         WHERE n.pnpubid = p.oid AND n.pnnspid = c.relnamespace)
            WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
            ORDER BY p.pubname
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
COMMENT ON FUNCTION topics._guard_publication() IS
'internal: rejects publications that name a topic, and warns of those that take topics in (logical decoding does not see their records)';

CREATE EVENT TRIGGER pg_topics_guard_publication ON ddl_command_end
    WHEN TAG IN ('CREATE PUBLICATION', 'ALTER PUBLICATION', 'CREATE TABLE')
    EXECUTE FUNCTION topics._guard_publication();

-- Publications made before 0.6 may name topics already: say so once, here
-- (the guard refuses the next change to such a publication until the topic
-- is dropped from it).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT p.pubname, r.prrelid::regclass AS topic
        FROM pg_catalog.pg_publication_rel r
        JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
        JOIN pg_catalog.pg_class c ON c.oid = r.prrelid
        JOIN pg_catalog.pg_am a ON a.oid = c.relam AND a.amname = 'topic_log'
        ORDER BY 1, 2
    LOOP
        RAISE WARNING 'publication "%" names topic "%", whose records logical replication does not send', t.pubname, t.topic
            USING HINT = format('Drop it from the publication: ALTER PUBLICATION %I DROP TABLE %s.', t.pubname, t.topic);
    END LOOP;
END;
$$;
