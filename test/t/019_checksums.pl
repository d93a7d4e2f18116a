# Data checksums.  Topics set flags on their pages without WAL, as heap sets
# hint bits (readers flag committed and aborted records, VACUUM flags pages
# all-visible), and write some pages outside shared buffers (new storage,
# VACUUM FULL); with data checksums on, every page must still carry a valid
# checksum when it reaches the disk, so that reading it back, after a clean
# stop or a crash, does not fail with "invalid page".  A workload that does
# all of that (deep directories and their splits, retention, compaction,
# aborted records, VACUUM, VACUUM FULL, TRUNCATE, new partitions), a crash
# after a checkpoint while pages carry unlogged flags, every page read back
# from disk, and pg_checksums over the stopped cluster.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('checksums', init => { extra => ['--data-checksums'] },
	conf => ['autovacuum = off']);
$node->start;
is($node->safe_psql('postgres', 'SHOW data_checksums'), 'on', 'data checksums are on');

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SET pg_topics.directory_fanout = 3;
SELECT topics.create_topic('ck', 3, retention_bytes => 400000);
SELECT topics.create_topic('ck_compact', 2, cleanup_policy => 'compact');
SELECT topics.create_topic('ck_trunc', 1);
});

# batches, aborted ones among them; big values go to TOAST
my $produce = q{
SET pg_topics.directory_fanout = 3;
SELECT count(*) FROM generate_series(1, 40) b,
	LATERAL topics.produce_batch('ck', ARRAY(SELECT 'k' || b || '-' || g FROM generate_series(1, 100) g),
		ARRAY(SELECT repeat('v', 120) FROM generate_series(1, 100) g));
SELECT count(*) FROM generate_series(1, 20) b,
	LATERAL topics.produce_batch('ck_compact', ARRAY(SELECT 'k' || (g % 30) FROM generate_series(1, 100) g),
		ARRAY(SELECT repeat('c', 100) || b FROM generate_series(1, 100) g));
SELECT count(*) FROM topics.produce('ck', 'big',
	convert_to((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 3000) g), 'UTF8'));
SELECT count(*) FROM topics.produce_batch('ck_trunc', ARRAY['a', 'b'], ARRAY['1', '2']);
BEGIN;
SELECT count(*) FROM topics.produce_batch('ck', ARRAY(SELECT 'x' || g FROM generate_series(1, 300) g),
	ARRAY(SELECT 'aborted' FROM generate_series(1, 300) g));
ROLLBACK;
};
# what every reader must see, the same before and after
my $digest = q{
SELECT string_agg(n, ' ') FROM (
	SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY partition, seq)) FROM ck t) AS n
	UNION ALL SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY partition, seq)) FROM ck_compact t)
	UNION ALL SELECT (SELECT count(*)::text FROM ck_trunc)
	UNION ALL SELECT (SELECT string_agg(b::text, ',' ORDER BY topic::text, partition) FROM
		(SELECT 'ck'::regclass AS topic, * FROM topics.partition_bounds('ck')
		 UNION ALL SELECT 'ck_compact', * FROM topics.partition_bounds('ck_compact')
		 UNION ALL SELECT 'ck_trunc', * FROM topics.partition_bounds('ck_trunc')) b)
	UNION ALL SELECT (SELECT count(*)::text FROM generate_series(0, 2) p,
		LATERAL topics.fetch('ck', p, (SELECT log_start_seq FROM topics.partition_bounds('ck') b
			WHERE b.partition = p), 10000))
	UNION ALL SELECT (SELECT count(*)::text FROM ck WHERE partition = 1 AND seq >= 0)
) d};

$node->safe_psql('postgres', $produce);
$node->safe_psql('postgres', q{
SELECT count(*) FROM topics.maintain();
VACUUM ck, ck_compact;
TRUNCATE ck_trunc;
SELECT topics.alter_topic('ck', 4);
});
$node->safe_psql('postgres', $produce);
$node->safe_psql('postgres', q{
SELECT count(*) FROM topics.maintain();
VACUUM FULL ck_compact;
CHECKPOINT;
});
# after the checkpoint: more records, then readers and VACUUM set their
# flags (no WAL for those), then a crash
$node->safe_psql('postgres', $produce);
$node->safe_psql('postgres', q{
SELECT count(*) FROM ck;
SELECT count(*) FROM ck_compact;
VACUUM ck;
});
my $before = $node->safe_psql('postgres', $digest);
like($before, qr/^\d+:\w{32} \d+:\w{32} \d+ /, 'the workload left records in every topic');

$node->stop('immediate');
$node->start;
# a fresh server reads every page from disk, checking its checksum
is($node->safe_psql('postgres', $digest), $before,
	'after a crash: every page reads back with a valid checksum, the same records');
$node->safe_psql('postgres', q{
SELECT count(*) FROM ck;
VACUUM (FREEZE) ck, ck_compact, ck_trunc;
CHECKPOINT;
});
$node->stop;

my ($stdout, $stderr);
my $ok = IPC::Run::run [ 'pg_checksums', '--check', '-D', $node->data_dir ],
	'>', \$stdout, '2>', \$stderr;
ok($ok, 'pg_checksums --check succeeds on the stopped cluster');
like($stdout, qr/Bad checksums:\s+0/, 'no bad checksums');

$node->start;
is($node->safe_psql('postgres', $digest), $before, 'after a clean restart: the same records');
$node->stop;

done_testing();
