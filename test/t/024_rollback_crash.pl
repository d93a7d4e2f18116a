# A position handed out past rolled-back records survives a crash.
#
# PostgreSQL does not flush WAL when a transaction rolls back.  When a crash
# lost the appends of a rolled-back batch, recovery gave their seqs to the
# next records; a shard iterator, or a LATEST one, handed out past them
# before the crash then skipped those records (until 0.12).  Readers now
# flush the WAL of records they pass before handing out a position past them.
#
# The WAL writer is stopped (SIGSTOP) so that nothing but the readers can
# flush the rolled-back appends before the crash; bgwriter and checkpoints
# are off for the same reason.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('rollback_crash',
	conf => [ 'wal_writer_delay = 10s', 'bgwriter_lru_maxpages = 0',
		'checkpoint_timeout = 1h', 'autovacuum = off' ]);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('rc', 2);
SELECT topics.produce('rc', 'k', 'committed', partition => 0);
SELECT topics.produce('rc', 'k', 'committed', partition => 1);
});

my $walwriter = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'});
ok($walwriter =~ /^\d+$/, 'found the WAL writer');
kill 'STOP', $walwriter;

# a batch of 3 in each partition, rolled back: seqs 1 to 3
$node->safe_psql('postgres', q{
BEGIN;
SELECT count(*) FROM topics.produce_batch('rc', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => 0);
SELECT count(*) FROM topics.produce_batch('rc', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => 1);
ROLLBACK;
});
# partition 0: get_records from the start returns seq 0 and an iterator
# past the rolled-back seqs; partition 1: a LATEST iterator (the last
# stable offset, past them too)
my ($after0, $latest1) = split /\|/, $node->safe_psql('postgres', q{
SELECT (SELECT next_shard_iterator
        FROM topics.get_records(topics.get_shard_iterator('rc', 0, 'TRIM_HORIZON'), 10)),
       topics.get_shard_iterator('rc', 1, 'LATEST')});

# crash (the postmaster kills the stopped WAL writer)
$node->stop('immediate');
$node->start;

my $new0 = $node->safe_psql('postgres',
	q{SELECT string_agg(seq::text, ',' ORDER BY seq) FROM topics.produce_batch('rc', ARRAY['x', 'y'], ARRAY['1', '2'], partition => 0)});
my $new1 = $node->safe_psql('postgres',
	q{SELECT string_agg(seq::text, ',' ORDER BY seq) FROM topics.produce_batch('rc', ARRAY['x', 'y'], ARRAY['1', '2'], partition => 1)});
is($new0, '4,5', 'partition 0: the rolled-back seqs were not handed out again');
is($new1, '4,5', 'partition 1: nor here');
is($node->safe_psql('postgres',
		qq{SELECT string_agg((r).seq::text, ',') FROM topics.get_records('$after0', 10) g, unnest(g.records) r}),
	'4,5', 'the iterator handed out past them reads the new records');
is($node->safe_psql('postgres',
		qq{SELECT string_agg((r).seq::text, ',') FROM topics.get_records('$latest1', 10) g, unnest(g.records) r}),
	'4,5', 'and so does the LATEST one');

$node->stop;
done_testing();
