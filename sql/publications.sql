--
-- Topics and logical replication's publications.  Logical decoding skips
-- the generic WAL that stores a topic's records, so a subscriber would get
-- the records present at its initial copy and none after: a publication
-- may not name a topic, and one that takes topics in without naming them
-- (FOR ALL TABLES, FOR TABLES IN SCHEMA) draws a warning, as does a topic
-- created where such a publication takes it in.  In a database of its own,
-- so that FOR ALL TABLES sees only this test's topics.
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

\c :regress_db
DROP DATABASE pg_topics_pub;
