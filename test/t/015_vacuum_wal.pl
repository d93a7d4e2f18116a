# What VACUUM writes to a topic's pages, and to WAL.
#
# VACUUM freezes records only once their xmin precedes the freeze limit
# (vacuum_freeze_min_age, as for heap), and flags a full page whose records
# are all settled all-visible; on a page with no aborted record that flag is
# the only change and is set as a hint, without WAL.  So a VACUUM right after
# a checkpoint writes no WAL for the topic's pages (an all-visible flag
# WAL-logged there would log each page whole), VACUUM FREEZE still freezes
# and logs, pages with an aborted record still get their line pointers
# marked dead with WAL, and readers return the same records throughout,
# across a crash that may lose the hints too.  Last, an aborted record
# that a reader flagged (a hint) is made durable by VACUUM, whose new
# relfrozenxid passes its xmin.  Pages are read with pageinspect, WAL with
# pg_walinspect.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('vacwal', conf => ['autovacuum = off']);
$node->start;
is($node->safe_psql('postgres', 'SHOW data_checksums'), 'off',
	'no data checksums (with them, hints are WAL-logged on their first change)');
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE EXTENSION pageinspect;
CREATE EXTENSION pg_walinspect;
CREATE TABLE flush_marker (i int);
SELECT topics.create_topic('vw', 2);
SELECT count(*) FROM topics.produce_batch('vw', ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g),
	ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 2000) g), NULL, 0);
SELECT count(*) FROM topics.produce_batch('vw', ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g),
	ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 2000) g), NULL, 0);
BEGIN;
SELECT count(*) FROM topics.produce_batch('vw', ARRAY(SELECT 'x' || g FROM generate_series(1, 100) g),
	ARRAY(SELECT 'aborted' FROM generate_series(1, 100) g), NULL, 1);
ROLLBACK;
SELECT count(*) FROM topics.produce_batch('vw', ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g),
	ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 2000) g), NULL, 1);
});

# the flags of the topic's full data pages, per partition: "all-visible
# pages/all-frozen pages/full pages"
my $flags = q{
SELECT partition, count(*) FILTER (WHERE flags & 2 <> 0) || '/' ||
	count(*) FILTER (WHERE flags & 1 <> 0) || '/' || count(*)
FROM (SELECT get_byte(p, s + 20) AS partition,	-- 0 or 1 (data pages)
	get_byte(p, s + 24) + 256 * get_byte(p, s + 25) AS kind,
	get_byte(p, s + 16)::bigint + 256 * get_byte(p, s + 17) + 65536 * get_byte(p, s + 18)
		+ 16777216::bigint * get_byte(p, s + 19) AS next,
	get_byte(p, s + 28) + 256 * get_byte(p, s + 29) AS flags
	FROM generate_series(0, pg_relation_size('vw') / 8192 - 1) blk,
		LATERAL get_raw_page('vw', blk::int) p,
		LATERAL (SELECT (page_header(p)).special) h(s)) pages
WHERE kind = 3 AND next <> 4294967295
GROUP BY partition ORDER BY partition};
# records whose flags byte has TREC_XMIN_FROZEN
my $frozen = q{
SELECT count(*) FROM generate_series(0, pg_relation_size('vw') / 8192 - 1) blk,
	LATERAL get_raw_page('vw', blk::int) p,
	LATERAL heap_page_items(p) i
WHERE get_byte(p, (page_header(p)).special + 24) = 3 AND i.lp_flags = 1
	AND get_byte(p, i.lp_off + 16) & 32 <> 0};
my $read = q{SELECT count(*), sum(length(value)), count(*) FILTER (WHERE key LIKE 'x%') FROM vw};
my $fetch = q{SELECT count(*) FROM topics.fetch('vw', 1, 0, 100000)};

# WAL that names a block of the topic between a CHECKPOINT and the end of
# what runs: "records/page images"
sub topic_wal
{
	my ($sql) = @_;
	my $start = $node->safe_psql('postgres', 'CHECKPOINT; SELECT pg_current_wal_insert_lsn()');
	$node->safe_psql('postgres', $sql);
	# a committed write flushes the WAL before it (synchronous_commit is on)
	$node->safe_psql('postgres', 'INSERT INTO flush_marker VALUES (1)');
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || '/' || count(*) FILTER (WHERE fpi_length > 0)
		FROM pg_get_wal_records_info('$start', pg_current_wal_flush_lsn())
		WHERE block_ref ~ ('/' || pg_relation_filenode('vw') || ' ')});
}

my $before = $node->safe_psql('postgres', $read);
my $fetched = $node->safe_psql('postgres', $fetch);
like($before, qr/^6000\|600000\|0$/, 'the records produced, the aborted ones unseen');

my ($all0) = $node->safe_psql('postgres', $flags) =~ m{^0\|0/0/(\d+)$}m;
ok($all0 && $all0 > 10, 'partition 0 has full pages, none flagged before VACUUM');

is(topic_wal('VACUUM vw'), '1/1',
	'VACUUM after a CHECKPOINT logs one page of the topic: the one with aborted records');
my $f = $node->safe_psql('postgres', $flags);
like($f, qr/^0\|$all0\/0\/$all0$/m,
	'every full page of partition 0 all-visible (as a hint), none all-frozen');
like($f, qr/^1\|(\d+)\/0\/\1$/m, 'partition 1 too, its page with aborted records included');
is($node->safe_psql('postgres', $frozen), '0', 'no record frozen by a plain VACUUM');
is($node->safe_psql('postgres', $read), $before, 'SELECT reads the same records');
is($node->safe_psql('postgres', $fetch), $fetched, 'fetch reads the same records');
is(topic_wal('VACUUM vw'), '0/0', 'a second VACUUM writes nothing');

# a crash may lose the hints: the records read stay the same
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $read), $before, 'SELECT after a crash: the same records');
is($node->safe_psql('postgres', $fetch), $fetched, 'fetch after a crash: the same records');

# VACUUM FREEZE freezes every settled record, with WAL, and moves relfrozenxid
my $age = $node->safe_psql('postgres', q{SELECT age(relfrozenxid) FROM pg_class WHERE oid = 'vw'::regclass});
my ($records, $images) = split m{/}, topic_wal('VACUUM (FREEZE) vw');
ok($records > 0 && $images > 0, "VACUUM FREEZE after a CHECKPOINT logs pages ($records records, $images images)");
$f = $node->safe_psql('postgres', $flags);
like($f, qr/^0\|$all0\/$all0\/$all0$/m, 'after VACUUM FREEZE every full page is all-visible and all-frozen');
is($node->safe_psql('postgres', $frozen), '6000', 'and every record on a data page is frozen');
ok($node->safe_psql('postgres', q{SELECT age(relfrozenxid) FROM pg_class WHERE oid = 'vw'::regclass}) < $age,
	'relfrozenxid moved forward');
is($node->safe_psql('postgres', $read), $before, 'SELECT after VACUUM FREEZE: the same records');
is($node->safe_psql('postgres', $fetch), $fetched, 'fetch after VACUUM FREEZE: the same records');

# An aborted record a reader marked (a hint, no WAL) on a page VACUUM does
# not flag (the tail page): relfrozenxid passes the record's xmin, so VACUUM
# must make the mark durable, or a crash that loses the hint leaves a record
# whose xmin precedes relfrozenxid unfrozen and unmarked (its clog may be
# gone by then).  The page's image in WAL is taken before the reader marks
# it, so only VACUUM's own WAL can carry the mark across the crash.
$node->safe_psql('postgres', q{
SELECT topics.create_topic('va', 1);
SELECT count(*) FROM topics.produce_batch('va', '{a,b}'::text[], '{1,2}'::text[]);
BEGIN;
SELECT count(*) FROM topics.produce_batch('va', '{x,y,z}'::text[], '{3,4,5}'::text[]);
ROLLBACK;
CHECKPOINT;
SELECT count(*) FROM topics.produce_batch('va', '{c}'::text[], '{6}'::text[]);
});
is($node->safe_psql('postgres', 'SELECT string_agg(key, \',\' ORDER BY seq) FROM va'), 'a,b,c',
	'va: the aborted records unseen (the reader marks them)');
$node->safe_psql('postgres', 'VACUUM (FREEZE) va');
# a committed write flushes the WAL before it: VACUUM's new relfrozenxid
# survives the crash
$node->safe_psql('postgres', 'INSERT INTO flush_marker VALUES (1)');
$node->stop('immediate');
$node->start;
# records on va's data pages whose xmin precedes relfrozenxid and that are
# neither frozen nor marked aborted, with line pointers still normal
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(0, pg_relation_size('va') / 8192 - 1) blk,
		LATERAL get_raw_page('va', blk::int) p,
		LATERAL heap_page_items(p) i,
		LATERAL (SELECT (get_byte(p, i.lp_off) + 256 * get_byte(p, i.lp_off + 1)
			+ 65536 * get_byte(p, i.lp_off + 2)
			+ 16777216::bigint * get_byte(p, i.lp_off + 3))::text::xid) r(xmin)
	WHERE get_byte(p, (page_header(p)).special + 24) = 3 AND i.lp_flags = 1
		AND get_byte(p, i.lp_off + 16) & (16 | 32) = 0
		AND age(r.xmin) > (SELECT age(relfrozenxid) FROM pg_class WHERE oid = 'va'::regclass)}),
	'0', 'va after a crash: no record older than relfrozenxid left unfrozen and unmarked');
is($node->safe_psql('postgres', 'SELECT string_agg(key, \',\' ORDER BY seq) FROM va'), 'a,b,c',
	'va after a crash: the same records');

# A plain (non-aggressive) VACUUM skips the pages an earlier one flagged
# all-visible, as heap's skips them through its visibility map: it reads
# the new records (and a few pages to find where they start), flags the new
# full pages, and leaves relfrozenxid as it was, since it did not see the
# skipped records' xmins.  An aggressive one (VACUUM FREEZE) reads them all.
my $vacuum_examined = sub {
	my ($options) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "VACUUM ($options) vs");
	my ($n) = $err =~ /(\d+) examined/;
	return $n // -1;
};
my $vs_flags = $flags =~ s/'vw'/'vs'/gr;
my $vs_frozenxid = q{SELECT relfrozenxid FROM pg_class WHERE oid = 'vs'::regclass};
$node->safe_psql('postgres', q{
SELECT topics.create_topic('vs', 1);
SELECT count(*) FROM topics.produce_batch('vs', ARRAY(SELECT 'k' || g FROM generate_series(1, 4000) g),
	ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 4000) g), NULL, 0);
});
is($vacuum_examined->('VERBOSE'), 4000, 'vs: the first VACUUM examines every record');
my $xid_before = $node->safe_psql('postgres', $vs_frozenxid);
$node->safe_psql('postgres', q{
SELECT count(*) FROM topics.produce_batch('vs', ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g),
	ARRAY(SELECT repeat('v', 100) FROM generate_series(1, 2000) g), NULL, 0);
});
my $examined = $vacuum_examined->('VERBOSE');
ok($examined >= 2000 && $examined < 2300,
	"vs: the second VACUUM examines the 2000 new records and a few more ($examined)");
my ($vis, $fro, $full) = $node->safe_psql('postgres', $vs_flags) =~ m{^0\|(\d+)/(\d+)/(\d+)$}m;
ok($full && $full > 50 && $vis == $full && $fro == 0,
	"vs: every full page all-visible ($vis of $full), none frozen");
is($node->safe_psql('postgres', $vs_frozenxid), $xid_before,
	'vs: relfrozenxid left as it was');
is($vacuum_examined->('VERBOSE, FREEZE'), 6000, 'vs: VACUUM FREEZE examines every record');
($vis, $fro, $full) = $node->safe_psql('postgres', $vs_flags) =~ m{^0\|(\d+)/(\d+)/(\d+)$}m;
ok($full && $vis == $full && $fro == $full, "vs: and freezes every full page ($fro of $full)");
isnt($node->safe_psql('postgres', $vs_frozenxid), $xid_before, 'vs: relfrozenxid moved');
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT seq) FROM vs}), '6000|6000',
	'vs: the records read the same');

done_testing();
