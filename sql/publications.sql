--
-- Topics and logical replication's publications.  Logical decoding skips
-- the generic WAL that stores a topic's records, so a subscriber would get
-- the records present at its initial copy and none after: a publication
-- may not name a topic, and one that takes topics in without naming them
-- (FOR ALL TABLES, FOR TABLES IN SCHEMA) draws a warning, as does a topic
-- created, moved or made from a table where such a publication takes it in
-- (0.7).  In a database of its own, so that FOR ALL TABLES sees only this
-- test's topics.
--
\set VERBOSITY default
\set SHOW_CONTEXT never
\set regress_db :DBNAME
CREATE DATABASE pg_topics_pub;
\c pg_topics_pub
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('pub_t', 1);
CREATE TABLE pub_heap (i int);

-- naming a topic is refused, alone or beside other tables
CREATE PUBLICATION pub_topic FOR TABLE pub_t;
CREATE PUBLICATION pub_mixed FOR TABLE pub_heap, pub_t;
SELECT count(*) AS publications FROM pg_publication;

-- a publication of heap tables is not affected; adding a topic is refused
-- and leaves it as it was
CREATE PUBLICATION pub_ok FOR TABLE pub_heap WITH (publish = 'insert');
ALTER PUBLICATION pub_ok ADD TABLE pub_t;
ALTER PUBLICATION pub_ok SET TABLE pub_heap, pub_t;
SELECT pubname, tablename FROM pg_publication_tables ORDER BY 1, 2;
ALTER PUBLICATION pub_ok SET (publish = 'insert, update');
SELECT pubname, pubinsert, pubupdate FROM pg_publication;

-- FOR TABLES IN SCHEMA and FOR ALL TABLES cannot leave a table out: they
-- warn, naming the topics they take in
CREATE SCHEMA pub_s;
SELECT topics.create_topic('pub_s.events', 2);
CREATE TABLE pub_s.plain (i int);
CREATE PUBLICATION pub_schema FOR TABLES IN SCHEMA pub_s;
CREATE PUBLICATION pub_all FOR ALL TABLES;
-- a topic created later where they take it in: a warning for each
SELECT topics.create_topic('pub_s.later', 1);
-- a heap table there: no warning
CREATE TABLE pub_s.plain2 (i int);
-- a schema added to a publication
CREATE SCHEMA pub_s2;
SELECT topics.create_topic('pub_s2.more', 1);
ALTER PUBLICATION pub_ok ADD TABLES IN SCHEMA pub_s2;
SELECT pubname, schemaname, tablename FROM pg_publication_tables
WHERE pubname <> 'pub_all' ORDER BY 1, 2, 3;

-- a topic moved into a published schema: a warning from the schema's
-- publication (FOR ALL TABLES had it already); moved out: none
SELECT topics.create_topic('pub_moving', 1);
ALTER TABLE pub_moving SET SCHEMA pub_s;
ALTER TABLE pub_s.pub_moving SET SCHEMA public;
-- other changes to a published topic do not warn again
SELECT topics.alter_topic('pub_s.events', 3);
ALTER TABLE pub_s.events OWNER TO CURRENT_USER;
-- a table made a topic (SET ACCESS METHOD) where publications take it in:
-- warned ...
CREATE TABLE pub_s.made (partition int, seq bigint, ts timestamptz, key text,
                         value bytea, headers jsonb);
ALTER TABLE pub_s.made SET ACCESS METHOD topic_log;
-- ... and refused where a publication names it, which leaves it a heap
-- table with its rows
CREATE TABLE pub_named (partition int, seq bigint, ts timestamptz, key text,
                        value bytea, headers jsonb);
INSERT INTO pub_named VALUES (0, 0, now(), 'k', 'v', NULL);
ALTER PUBLICATION pub_ok ADD TABLE pub_named;
ALTER TABLE pub_named SET ACCESS METHOD topic_log;
SELECT a.amname, (SELECT count(*) FROM pub_named) AS rows
FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'pub_named'::regclass;
-- topics made by CREATE TABLE AS and SELECT INTO: warned too
CREATE TABLE pub_s.copied USING topic_log AS SELECT * FROM pub_s.made;
SET default_table_access_method = topic_log;
SELECT * INTO pub_s.selected FROM pub_s.made;
RESET default_table_access_method;
SELECT c.oid::regclass AS topic FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE a.amname = 'topic_log' ORDER BY c.oid::regclass::text;

\c :regress_db
DROP DATABASE pg_topics_pub;
