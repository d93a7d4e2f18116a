# Replay of every kind of WAL record the appends write, checked against full
# page images: with wal_consistency_checking = 'generic' each generic record
# also carries an image of every page it touches, and redo compares the page
# it rebuilt with that image (FATAL "inconsistent page found" otherwise).
# The records written from the bytes changed (record appends, new tail pages,
# directory entries, splits and new roots, an interrupted split and its
# finishing) are what this covers, with retention freeing pages and
# trimming the directory in between; a directory of three entries a page
# makes splits at every level.
#
# Only producing runs between the checkpoint and the crash: a reader sets
# commit/abort flags on records without WAL (as heap sets hint bits), which
# the generic resource manager cannot mask, so a read would make the next
# append's page image differ from the replayed page for that reason alone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('walcheck',
	conf => [ 'pg_topics.directory_fanout = 3', "wal_consistency_checking = 'generic'",
		'autovacuum = off' ]);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('wc', 3, retention_bytes => 10 * 8192);
CREATE TABLE ack (partition int, seq bigint, PRIMARY KEY (partition, seq));
CHECKPOINT;
});

# each batch acknowledged in the same transaction (a heap table: its own
# records have their own consistency masks)
my $batch = q{INSERT INTO ack SELECT partition, seq FROM topics.produce_batch('wc',
	ARRAY(SELECT 'k' || g FROM generate_series(1, 400) g),
	ARRAY(SELECT repeat('v', 200) FROM generate_series(1, 400) g))};
my $maintain = q{SELECT count(*) FROM topics.maintain('wc')};
$node->safe_psql('postgres', "$batch; $maintain") for 1 .. 8;
# an aborted batch, single records in their own transactions, one explicit
# partition
$node->safe_psql('postgres', "BEGIN; $batch; ROLLBACK;");
$node->safe_psql('postgres', q{INSERT INTO ack SELECT (p).partition, (p).seq
	FROM (SELECT topics.produce('wc', 'one-' || g, 'x') AS p FROM generate_series(1, 50) g) s});
$node->safe_psql('postgres', q{INSERT INTO ack SELECT partition, seq FROM topics.produce_batch('wc',
	ARRAY(SELECT 'p' || g FROM generate_series(1, 300) g),
	ARRAY(SELECT repeat('w', 500) FROM generate_series(1, 300) g), NULL, 2)});
# a split interrupted at level 1, then finished by the next appends
my ($ret, $out, $err) = $node->psql('postgres',
	"SET pg_topics.debug_fail_in_split = 1; BEGIN; $batch; $batch; $batch; $batch; $batch; COMMIT;");
like($err, qr/debug_fail_in_split: failing after splitting directory page \d+ at level 1/,
	'a split was interrupted at level 1');
$node->safe_psql('postgres', "$batch; $maintain") for 1 .. 3;

$node->stop('immediate');
ok($node->start(fail_ok => 1),
	'crash recovery replayed every record and found each page equal to its image');
like(slurp_file($node->logfile), qr/redo done/, 'redo ran');
unlike(slurp_file($node->logfile), qr/inconsistent page found/, 'no inconsistent page');
is($node->safe_psql('postgres', q{SELECT bool_and(log_start_seq > 0) FROM topics.partitions
	WHERE topic = 'wc'::regclass}), 't', 'retention removed records from every partition');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		(SELECT partition, seq FROM wc
		 EXCEPT ALL
		 SELECT a.partition, a.seq FROM ack a JOIN topics.partitions b
		   ON b.topic = 'wc'::regclass AND b.partition = a.partition AND a.seq >= b.log_start_seq)
		UNION ALL
		(SELECT a.partition, a.seq FROM ack a JOIN topics.partitions b
		   ON b.topic = 'wc'::regclass AND b.partition = a.partition AND a.seq >= b.log_start_seq
		 EXCEPT ALL
		 SELECT partition, seq FROM wc)) d}), '0',
	'the topic holds exactly the acknowledged records above the log start');
$node->stop;
done_testing();
