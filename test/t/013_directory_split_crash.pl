# A split of a directory page interrupted between its WAL records.  A split
# writes the new right half first and its parent entry in a later record; a
# crash in between, or an error (running out of disk for the parent's new
# page), used to leave the new page without a parent entry for good: never
# freed by retention, and seeks into its range read from the head once its
# left neighbour was gone.  Now the new half carries a flag until its parent
# entry is made, and the partition's next append finishes the split.
#
# pg_topics.debug_fail_in_split = N makes the next split at level N write
# its first record, flush WAL and raise an error.  For N = 0, 1, 2 (a
# directory of three entries a page, so it is deep), with retention trimming
# all along:
#  - the error came from a split at that level, and one directory page, at
#    that level, is flagged;
#  - after a crash (immediate shutdown) and recovery the same holds, the
#    non-data pages are byte for byte what they were, and every
#    acknowledged record above the log start reads back intact, forward
#    and backward;
#  - after the next appends no page is flagged, every directory page but
#    the root has exactly one live parent entry, and reads still agree.
# At the end retention has freed the directory pages of removed data,
# including the three that were interrupted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('splitcrash', conf => ['pg_topics.directory_fanout = 3', 'autovacuum = off']);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE EXTENSION pageinspect;
SELECT topics.create_topic('sc', 1, retention_bytes => 60 * 8192);
CREATE TABLE ack (seq bigint PRIMARY KEY, key text, digest text);

-- every live entry of every directory page (the opaque's first_seq holds
-- the count of leading entries retention trimmed; kind 4 is a directory
-- page, flag 4 a split not finished)
CREATE FUNCTION dir_entries(rel regclass)
RETURNS TABLE (blk int, level int, incomplete bool, child int)
LANGUAGE sql AS $$
  WITH pages AS (
    SELECT b, r.p, (page_header(r.p)).special AS sp, (page_header(r.p)).lower AS lo
    FROM generate_series(0, (pg_relation_size(rel) / 8192)::int - 1) b,
         LATERAL (SELECT get_raw_page(rel::text, b) AS p) r),
  dir AS (
    SELECT b, p, lo, get_byte(p, sp + 26) AS level,
           (get_byte(p, sp + 28) & 4) <> 0 AS incomplete,
           get_byte(p, sp) + 256 * get_byte(p, sp + 1) AS trimmed
    FROM pages WHERE get_byte(p, sp + 24) = 4)
  SELECT d.b, d.level, d.incomplete, e.child
  FROM dir d LEFT JOIN LATERAL (
    SELECT get_byte(d.p, 24 + 24 * i + 16) + 256 * get_byte(d.p, 24 + 24 * i + 17)
           + 65536 * get_byte(d.p, 24 + 24 * i + 18) AS child
    FROM generate_series(d.trimmed, (d.lo - 24) / 24 - 1) i) e ON true
$$;
});

# "incomplete pages,their levels,pages without exactly one parent entry,roots"
my $shape = q{
	WITH d AS (SELECT * FROM dir_entries('sc')),
	pages AS (SELECT blk, level, bool_or(incomplete) AS incomplete FROM d GROUP BY blk, level),
	top AS (SELECT max(level) AS l FROM pages)
	SELECT (SELECT count(*) FROM pages WHERE incomplete) || ',' ||
	       (SELECT coalesce(string_agg(level::text, ' '), '') FROM pages WHERE incomplete) || ',' ||
	       (SELECT count(*) FROM pages p, top WHERE p.level < top.l
	          AND (SELECT count(*) FROM d WHERE d.level = p.level + 1 AND d.child = p.blk) <> 1)
	       || ',' || (SELECT count(*) FROM pages p, top WHERE p.level = top.l)};

# every page but the data pages (whose records carry hint flags set
# without WAL), byte for byte after the page header's LSN, checksum and
# flags: crash recovery must rebuild the meta, state, directory and free
# pages exactly as they were
my $pages = q{
	SELECT string_agg(b || ':' || md5(substr(p, 13)), ' ' ORDER BY b)
	FROM generate_series(0, (pg_relation_size('sc') / 8192)::int - 1) b,
	     LATERAL (SELECT get_raw_page('sc', b) AS p) r
	WHERE get_byte(p, (page_header(p)).special + 24) <> 3};

my %checks = (
	'fetch returns exactly the acknowledged records above the log start' => q{
		WITH f AS (SELECT f.seq, f.key, md5(f.value) AS digest
		           FROM topics.partitions b,
		                LATERAL topics.fetch('sc', 0, b.log_start_seq, 1000000) f
		           WHERE b.topic = 'sc'::regclass),
		a AS (SELECT a.seq, a.key, a.digest FROM ack a, topics.partitions b
		      WHERE b.topic = 'sc'::regclass AND a.seq >= b.log_start_seq)
		SELECT count(*) FROM ((SELECT * FROM f EXCEPT ALL SELECT * FROM a)
		                      UNION ALL (SELECT * FROM a EXCEPT ALL SELECT * FROM f)) d},
	'seeks forward and backward find every 3rd acknowledged record' => q{
		SELECT count(*) FROM ack a, topics.partitions b
		WHERE b.topic = 'sc'::regclass AND a.seq >= b.log_start_seq AND a.seq % 3 = 0
		  AND ((SELECT seq FROM sc WHERE partition = 0 AND seq >= a.seq ORDER BY seq LIMIT 1)
		       IS DISTINCT FROM a.seq
		    OR (SELECT seq FROM sc WHERE partition = 0 AND seq <= a.seq ORDER BY seq DESC LIMIT 1)
		       IS DISTINCT FROM a.seq)},
);

# n acknowledged records of 960 bytes (eight to a page), then a retention run
my $batch = 0;
sub produce_acked
{
	my $n = shift;
	$batch++;
	$node->safe_psql('postgres', qq{
		INSERT INTO ack
		SELECT p.seq, v.key, md5(v.value)
		FROM (SELECT 'key-$batch-' || g AS key,
		             convert_to(repeat(md5('$batch' || g), 30), 'UTF8') AS value
		      FROM generate_series(1, $n) g) v,
		     LATERAL topics.produce('sc', v.key, v.value, NULL, 0) p;
		SELECT count(*) FROM topics.maintain('sc');
	});
}

sub check_reads
{
	my $when = shift;
	for my $name (sort keys %checks)
	{
		is($node->safe_psql('postgres', $checks{$name}), '0', "$when: $name");
	}
}

produce_acked(400);
is($node->safe_psql('postgres', $shape), '0,,0,1',
	'at the start: no split is pending and every page has its parent entry');

for my $level (0, 1, 2)
{
	produce_acked(200);

	# a producer whose transaction fails in the split: none of its records
	# is acknowledged, but its pages and directory entries stay
	my ($ret, $out, $err) = $node->psql('postgres', qq{
		SET pg_topics.debug_fail_in_split = $level;
		SELECT count(*) FROM generate_series(1, 20000) g,
		       LATERAL topics.produce('sc', 'lost-' || g, convert_to(repeat('y', 960), 'UTF8'), NULL, 0) p});
	isnt($ret, 0, "level $level: the producer's statement failed");
	like($err, qr/pg_topics\.debug_fail_in_split: failing after splitting directory page \d+ at level $level/,
		"level $level: it failed between the WAL records of a split at that level");
	is($node->safe_psql('postgres', $shape) =~ s/,\d+,\d+$//r, "1,$level",
		"level $level: one directory page, at level $level, waits for its parent entry");

	my $before = $node->safe_psql('postgres', $pages);
	$node->stop('immediate');
	$node->start;
	is($node->safe_psql('postgres', $pages), $before,
		"level $level: recovery rebuilt the non-data pages byte for byte");
	is($node->safe_psql('postgres', $shape) =~ s/,\d+,\d+$//r, "1,$level",
		"level $level: after a crash and recovery that page still waits for its parent entry");
	check_reads("level $level, after recovery");

	produce_acked(20);
	is($node->safe_psql('postgres', $shape), '0,,0,1',
		"level $level: the next appends finished the split: every page has its parent entry");
	check_reads("level $level, after the split was finished");
}

# retention goes past the three interrupted splits: the tree stays whole and
# shrinks with the data it leads to
produce_acked(600);
is($node->safe_psql('postgres', $shape), '0,,0,1', 'after retention: the tree is whole');
my ($data, $dirpages) = split /,/, $node->safe_psql('postgres', q{
	SELECT sum((get_byte(r.p, (page_header(r.p)).special + 24) = 3)::int) || ',' ||
	       sum((get_byte(r.p, (page_header(r.p)).special + 24) = 4)::int)
	FROM generate_series(0, (pg_relation_size('sc') / 8192)::int - 1) b,
	     LATERAL (SELECT get_raw_page('sc', b) AS p) r});
cmp_ok($dirpages, '<', $data,
	"retention freed the directory pages of removed data ($dirpages directory pages for $data data pages)");
check_reads('at the end');
$node->stop;
done_testing();
