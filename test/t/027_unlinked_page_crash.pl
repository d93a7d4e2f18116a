# A data page linked without its directory entry survives a crash.
#
# A new data page is linked to its partition's chain in one WAL record and
# gets its directory entry in a later one (a split may take several).  A
# crash or an error in between left the page without an entry for good:
# once retention freed the page of the entry before it and an append reused
# that page for newer records, a seek into the page without an entry landed
# on the reused page, took it for a gap of explicit seqs, and skipped the
# page's records (fetch, SELECT and seq_at_time alike; until 0.17).  Now the
# page is flagged when linked, the record of its entry clears the flag, and
# the partition's next new page makes the entry of a flagged tail first.
#
# The error here is an append that fails while finishing a split cut short
# (pg_topics.debug_fail_in_split, a developer option), after it linked its
# page; then the server crashes (immediate shutdown).  After recovery the
# tail is still flagged; retention removes everything before it, and the
# next appends reuse the freed pages.  Every acknowledged record must read
# back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('unlinked', conf => ['pg_topics.directory_fanout = 3', 'autovacuum = off']);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE EXTENSION pageinspect;
SELECT topics.create_topic('ul', 1);
CREATE TABLE ack (seq bigint PRIMARY KEY, key text, digest text);

-- produce n records of about 1900 bytes (four to a page), one transaction
-- each, acknowledging the committed ones; with stop_on_error, stop at the
-- first error and return its message
CREATE PROCEDURE produce_acked(n int, stop_on_error bool, INOUT failure text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
    v bytea;
BEGIN
    FOR i IN 1..n LOOP
        v := convert_to(repeat(md5(clock_timestamp()::text || i), 59), 'UTF8');
        BEGIN
            SELECT p.seq INTO s FROM topics.produce('ul', 'k' || i, v, partition => 0) p;
            INSERT INTO ack VALUES (s, 'k' || i, md5(v));
        EXCEPTION WHEN OTHERS THEN
            IF stop_on_error THEN
                failure := SQLERRM;
                RETURN;
            END IF;
            RAISE;
        END;
        COMMIT;
    END LOOP;
END;
$$;

-- the flags of partition 0's tail page (the state page is block 1, the
-- tail's block number at byte 44; the flags at byte 28 of the special space)
CREATE FUNCTION tail_flags() RETURNS int LANGUAGE sql AS $$
    SELECT get_byte(p, (page_header(p)).special + 28)
    FROM (SELECT get_raw_page('ul', get_byte(sp, 44) + get_byte(sp, 45) * 256 +
                                    get_byte(sp, 46) * 65536) AS p
          FROM (SELECT get_raw_page('ul', 1) AS sp) s) d
$$;
});

# acknowledged records above the log start that fetch, a forward seek or a
# backward seek does not give back exactly
my $missing = q{
	WITH live AS MATERIALIZED (
	    SELECT a.* FROM ack a, topics.partition_bounds('ul') b WHERE a.seq >= b.log_start_seq)
	SELECT count(*) FROM live a
	WHERE (SELECT md5(f.value) FROM topics.fetch('ul', 0, a.seq, 1) f WHERE f.seq = a.seq)
	        IS DISTINCT FROM a.digest
	   OR (SELECT seq FROM ul WHERE partition = 0 AND seq >= a.seq ORDER BY seq LIMIT 1)
	        IS DISTINCT FROM a.seq
	   OR (SELECT seq FROM ul WHERE partition = 0 AND seq <= a.seq ORDER BY seq DESC LIMIT 1)
	        IS DISTINCT FROM a.seq};

$node->safe_psql('postgres', 'CALL produce_acked(100, false)');

# a leaf split cut short, then an append that fails while finishing it
like($node->safe_psql('postgres', q{
	SET pg_topics.debug_fail_in_split = 0;
	CALL produce_acked(100, true)}),
	qr/failing after splitting directory page \d+ at level 0/, 'a leaf split was cut short');
like($node->safe_psql('postgres', q{
	SET pg_topics.debug_fail_in_split = 1;
	CALL produce_acked(100, true)}),
	qr/failing after splitting directory page \d+ at level 1/,
	'the next new page failed while finishing it');
is($node->safe_psql('postgres', 'SELECT tail_flags() & 8'), '8',
	'the new tail is flagged as without a directory entry');

# a record on the tail, acknowledged, then a crash
$node->safe_psql('postgres', 'CALL produce_acked(1, false)');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT tail_flags() & 8'), '8',
	'after the crash the tail is still flagged');

# retention down to the tail, then appends that reuse the freed pages
$node->safe_psql('postgres', q{SELECT * FROM topics._apply_retention('ul', NULL, 0)});
is($node->safe_psql('postgres', q{SELECT log_start_seq = (SELECT min(seq) FROM ul) FROM topics.partition_bounds('ul')}),
	't', 'retention removed everything before the tail');
$node->safe_psql('postgres', 'CALL produce_acked(200, false)');
is($node->safe_psql('postgres', 'SELECT tail_flags() & 8'), '0', 'the tail now has its entry');
is($node->safe_psql('postgres', $missing), '0',
	'every acknowledged record above the log start reads back, by fetch and by seeks');
is($node->safe_psql('postgres', q{
	SELECT count(*) = (SELECT count(*) FROM ack a, topics.partition_bounds('ul') b WHERE a.seq >= b.log_start_seq)
	FROM ul}), 't', 'a full scan returns as many');

$node->stop;
done_testing();
