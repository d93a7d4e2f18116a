# A position handed out past rolled-back records, or past records of a
# commit not yet flushed, survives a crash.
#
# PostgreSQL does not flush WAL when a transaction rolls back, nor at an
# asynchronous commit.  When a crash lost the appends of a rolled-back batch,
# recovery gave their seqs to the next records; a shard iterator, or a LATEST
# one, handed out past them before the crash then skipped those records, and
# so did one past records of a lost asynchronous commit (until 0.12).
# Readers now flush the WAL of the records they pass before handing out a
# position past them, and an AT_SEQUENCE_NUMBER iterator flushes what is
# below its seq; and every walk, the table scan's included, returns a record
# only once its commit is durable, for positions worked out from what a
# query returned (max(seq) + 1).
#
# The WAL writer is stopped (SIGSTOP) so that nothing but the readers can
# flush that WAL before the crash; bgwriter and checkpoints are off for the
# same reason.
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
SELECT topics.create_topic('rc', 8);
SELECT topics.produce('rc', 'k', 'committed', partition => p) FROM generate_series(0, 7) p;
});

# Stop the WAL writer while it sleeps in its main loop: stopped in the
# middle of a write it would hold WALWriteLock, and every flush would wait
# for it.  A stopped process's wait event no longer changes, so it is read
# again after the stop; the writer is let go and stopped again otherwise.
sub stop_walwriter
{
	my $walwriter = q{SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'walwriter' AND wait_event = 'WalWriterMain'};
	for (;;)
	{
		$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($walwriter) w")
		  or die 'the WAL writer is not in its main loop';
		my $pid = $node->safe_psql('postgres', $walwriter);
		next unless $pid =~ /^\d+$/;
		kill 'STOP', $pid;
		if ($node->safe_psql('postgres', $walwriter) eq $pid)
		{
			pass('the WAL writer is stopped while it sleeps');
			return;
		}
		kill 'CONT', $pid;
	}
}

# Produce 2 records to $p after the crash; they must take seqs 4 and 5 (or
# $new), and the iterator taken before the crash must read them.
sub check_after_crash
{
	my ($p, $it, $what, $new) = @_;
	$new //= '4,5';
	is($node->safe_psql('postgres',
			qq{SELECT string_agg(seq::text, ',' ORDER BY seq)
			   FROM topics.produce_batch('rc', ARRAY['x', 'y'], ARRAY['1', '2'], partition => $p)}),
		$new, "partition $p: seqs 1 to 3 were not handed out again");
	# psql, not safe_psql: without the fix the iterator may not be valid
	my (undef, $read) = $node->psql('postgres',
		qq{SELECT string_agg((r).seq::text, ',') FROM topics.get_records('$it', 10) g, unnest(g.records) r});
	is($read, $new, "partition $p: the iterator ($what) reads the new records");
}

# One round per case (an XLogFlush writes all WAL inserted so far, so one
# reader's flush would cover the others): stop the WAL writer, run $setup
# in partition $p, take an iterator with $take (or a seq, when $take is a
# sub: the position a reader worked out from records a query returned),
# crash, and check.
sub round
{
	my ($p, $setup, $take, $what, $between, $new) = @_;
	stop_walwriter();
	$node->safe_psql('postgres', $setup);
	$between->() if $between;
	my $it = ref $take ? $take->() : $node->safe_psql('postgres', $take);
	# crash (the postmaster kills the stopped WAL writer)
	$node->stop('immediate');
	$node->start;
	(undef, $it) = $node->psql('postgres',
		"SELECT topics.get_shard_iterator('rc', $p, 'AT_SEQUENCE_NUMBER', $it)")
	  if ref $take;
	check_after_crash($p, $it, $what, $new);
}

# a batch of 3 rolled back (seqs 1 to 3), then: get_records from the start
# returns seq 0 and an iterator past the rolled-back seqs
my $rollback = q{BEGIN;
SELECT count(*) FROM topics.produce_batch('rc', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => %d);
ROLLBACK;};
round(0, sprintf($rollback, 0),
	q{SELECT next_shard_iterator FROM topics.get_records(topics.get_shard_iterator('rc', 0, 'TRIM_HORIZON'), 10)},
	'get_records past rolled-back records');
# a LATEST iterator: the last stable offset, past them too
round(1, sprintf($rollback, 1),
	q{SELECT topics.get_shard_iterator('rc', 1, 'LATEST')},
	'LATEST past rolled-back records');
# AT_SEQUENCE_NUMBER at the next seq that partition_bounds shows
round(2, sprintf($rollback, 2),
	q{SELECT topics.get_shard_iterator('rc', 2, 'AT_SEQUENCE_NUMBER',
	    (SELECT next_seq FROM topics.partition_bounds('rc') WHERE partition = 2))},
	'AT_SEQUENCE_NUMBER at next_seq past rolled-back records');
# 3 records committed asynchronously: get_records returns them and an
# iterator past them
round(3, q{SET synchronous_commit = off;
SELECT count(*) FROM topics.produce_batch('rc', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => 3);},
	q{SELECT next_shard_iterator FROM topics.get_records(topics.get_shard_iterator('rc', 3, 'TRIM_HORIZON'), 10)},
	'get_records past an asynchronous commit');
# the same with another producer's append open on that page: its WAL moves
# the page's LSN past the commit, so the commit's records are hinted
# committed at once (heap's rule), though the commit is not flushed; the
# flush makes the open append's seq 4 durable too (and aborted, by the crash)
my $open;
round(4, q{SET synchronous_commit = off;
SELECT count(*) FROM topics.produce_batch('rc', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => 4);},
	q{SELECT next_shard_iterator FROM topics.get_records(topics.get_shard_iterator('rc', 4, 'TRIM_HORIZON'), 10)},
	'get_records past an asynchronous commit, an append open after it',
	sub {
		$open = $node->background_psql('postgres', on_error_stop => 0);
		$open->query_safe(q{BEGIN; SELECT topics.produce('rc', 'k', 'open', partition => 4)});
	}, '5,6');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rc WHERE partition = 3}),
	'6', 'partition 3: the asynchronously committed records a reader passed survived');

# Positions worked out from what a query returned: a record is returned
# only once its commit is durable, or the crash could give its seq to
# another record, which "max(seq) + 1" would then skip.
my $async = q{SET synchronous_commit = off;
SELECT count(*) FROM topics.produce_batch('rc', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => %d);};
# the sequential scan
round(5, sprintf($async, 5),
	sub {
		$node->safe_psql('postgres',
			q{SELECT max(seq) FILTER (WHERE partition = 5) + 1 FROM rc});
	},
	'max(seq) + 1 of a sequential scan past an asynchronous commit');
# the backward seek (ORDER BY seq DESC)
round(6, sprintf($async, 6),
	sub {
		$node->safe_psql('postgres',
			q{SELECT seq + 1 FROM rc WHERE partition = 6 ORDER BY seq DESC LIMIT 1});
	},
	'the latest record of a backward seek past an asynchronous commit');
# a forward seek through a cursor still open at the crash
my $cursor;
round(7, sprintf($async, 7),
	sub {
		$cursor = $node->background_psql('postgres', on_error_stop => 0);
		$cursor->query_safe(q{BEGIN;
DECLARE c CURSOR FOR SELECT seq FROM rc WHERE partition = 7 AND seq >= 0 ORDER BY seq});
		my $last = $cursor->query_safe(q{FETCH 4 FROM c});
		$last =~ s/.*\n//s;
		return $last + 1;
	},
	'the last record fetched from an open cursor past an asynchronous commit');
is($node->safe_psql('postgres', q{SELECT count(*) FROM rc WHERE partition BETWEEN 5 AND 7}),
	'18', 'partitions 5 to 7: the asynchronously committed records queries returned survived');

eval { $_->quit } for $open, $cursor;    # their server crashed under them
$node->stop;
done_testing();
