# Readers on a hot standby while the primary's retention frees and reuses
# the pages they are reading.  On the primary a page is freed only when no
# backend has it pinned; a standby's pins are invisible there, and replay of
# a freed (or reused) page overwrites it under the standby's reader.  A
# cursor paused in the middle of a page (through topics.fetch, a seeking
# SELECT and a sequential scan) must go on returning the records it
# started on, intact.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $primary = topics_node('primary', init => { allows_streaming => 1 });
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('sr', 1);
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# values that say which seq they belong to: 400 bytes, 19 records a page
my $produce = sub {
	my ($n) = @_;
	$primary->safe_psql('postgres', qq{
		SELECT count(*) FROM topics.produce_batch('sr',
			ARRAY(SELECT 'k' FROM generate_series(1, $n)),
			ARRAY(SELECT repeat(md5(g::text), 12) || lpad(g::text, 16, '0')
				  FROM generate_series(1, $n) g), partition => 0)});
};
$produce->(200);
$primary->wait_for_catchup($standby);

for my $reader (
	[ 'fetch', q{SELECT seq, value FROM topics.fetch('sr', 0, %d, 100000)} ],
	[ 'SELECT', q{SELECT seq, value FROM sr WHERE partition = 0 AND seq >= %d ORDER BY seq} ],
	[ 'sequential scan', q{SELECT seq, value FROM sr /* %d */} ])
{
	my ($name, $sql) = @$reader;
	my $start = $primary->safe_psql('postgres',
		q{SELECT log_start_seq FROM topics.partitions WHERE topic = 'sr'::regclass});
	my $s = $standby->background_psql('postgres');
	$s->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$s->query_safe('DECLARE c CURSOR FOR ' . sprintf($sql, $start));
	my $first = $s->query_safe('FETCH 3 FROM c');
	my ($base) = $first =~ /^(\d+)\|/;
	ok(defined $base && $base % 19 == $start % 19 && $base >= $start,
		"$name on the standby: started at the first record of a page");
	$base //= -1;

	# the primary removes the page the cursor is on (its pins are not
	# seen there), reuses it for new records, and the standby replays
	$primary->safe_psql('postgres',
		q{SELECT count(*) FROM topics._apply_retention('sr', NULL, 2 * 8192)});
	$produce->(200);
	$primary->safe_psql('postgres',
		q{SELECT count(*) FROM topics._apply_retention('sr', NULL, 2 * 8192)});
	$produce->(200);
	$primary->wait_for_catchup($standby);
	cmp_ok($primary->safe_psql('postgres',
			q{SELECT log_start_seq FROM topics.partitions WHERE topic = 'sr'::regclass}),
		'>', $base + 100, "$name: retention moved the log start well past the cursor");

	# the rest of the page the cursor was on: every value is the one its
	# seq was produced with
	my $rest = $s->query_safe('FETCH 15 FROM c');
	my @rows = split /\n/, $rest;
	my @seqs = map { (split /\|/, $_, 2)[0] } @rows;
	is("@seqs", join(' ', map { $base + $_ } 3 .. 17),
		"$name: the cursor went on with the seqs of its page");
	my $bad = 0;
	for my $row (@rows)
	{
		my ($seq, $value) = split /\|/, $row, 2;
		my $tail = unpack('H*', sprintf('%016d', ($seq % 200) + 1));
		$bad++ unless defined $value && $value =~ /^\\x[0-9a-f]{768}\Q$tail\E$/;
	}
	is($bad, 0, "$name: every record it returned is intact");
	$s->query_safe('COMMIT');
	$s->quit;
}

# The last stable offset on the standby: a transaction still running on
# the primary holds it at its first record there too, so partition_info
# reports it and a LATEST iterator taken on the standby starts there and
# returns the records once the transaction commits (through 15c9fc6 the
# standby used next_seq: the iterator started past them and never returned
# them).  Retention and the walk meet above; here the walk's answer.
$produce->(10);
my $p = $primary->background_psql('postgres');
$p->query_safe('BEGIN');
my $running = $p->query_safe(
	q{SELECT seq FROM topics.produce('sr', 'running', 'r', partition => 0)});
$produce->(5);    # committed after it
$primary->wait_for_catchup($standby);
is( $standby->safe_psql('postgres',
		q{SELECT last_stable_seq || ' ' || next_seq FROM topics.partitions WHERE topic = 'sr'::regclass}),
	$running . ' ' . ($running + 6),
	'standby: the last stable offset is the running record, below next_seq');
my $it = $standby->safe_psql('postgres',
	q{SELECT topics.get_shard_iterator('sr', 0, 'LATEST')});
$p->query_safe('COMMIT');
$p->quit;
$primary->wait_for_catchup($standby);
is( $standby->safe_psql('postgres',
		qq{SELECT string_agg((r).key, ',' ORDER BY (r).seq)
		   FROM topics.get_records('$it', 100) g, unnest(g.records) r}),
	'running,k,k,k,k,k',
	'standby: a LATEST iterator taken meanwhile returns the running record once committed');

# A long poll on the standby holds ACCESS SHARE on the topic; replaying a
# TRUNCATE from the primary needs ACCESS EXCLUSIVE.  The startup process
# waits for it in the lock manager, so the waiter sees it and returns (0
# rows) within a second, and replay goes on; before, replay waited
# max_standby_streaming_delay (30 s) and then cancelled the waiter with a
# recovery conflict.
$primary->safe_psql('postgres', q{SELECT topics.create_topic('sr_lp', 1)});
$primary->wait_for_catchup($standby);
my $w = $standby->background_psql('postgres', on_error_stop => 0);
$w->query_safe("SET application_name = 'standby_waiter'");
$w->query_until(qr/started/,
	"\\echo started\nSELECT 'rows:' || count(*) FROM topics.fetch('sr_lp', 0, 0, 10, NULL, '5 min');\n\\echo done\n");
ok( $standby->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
		WHERE application_name = 'standby_waiter' AND wait_event_type = 'Extension'}),
	'standby: a long poll waits');
$primary->safe_psql('postgres', 'TRUNCATE sr_lp');
my $out = $w->query_until(qr/done/, '');
like($out, qr/rows:0/, 'standby: the waiter returned when replay needed its lock');
unlike($w->{stderr}, qr/conflict with recovery/, 'standby: without a recovery conflict');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_database_conflicts WHERE confl_lock > 0}),
	'0', 'standby: no lock conflict was counted');
$w->quit;

# A long poll on the standby returns once replay brings a commit to its
# topic: no producer commits on a standby to wake it, so it looks again
# when the replay position moves (until 0.14 it slept its whole wait, here 5
# minutes, and the test would time out first).  fetch, then get_records.
$primary->safe_psql('postgres', q{SELECT topics.create_topic('sr_wake', 1)});
$primary->wait_for_catchup($standby);
for my $kind ('fetch', 'get_records')
{
	my $call;
	if ($kind eq 'fetch')
	{
		$call = q{SELECT 'got:' || string_agg(key, ',') FROM topics.fetch('sr_wake', 0, 0, 10, NULL, '5 min')};
	}
	else
	{
		my $it_wake = $standby->safe_psql('postgres',
			q{SELECT topics.get_shard_iterator('sr_wake', 0, 'LATEST')});
		$call = qq{SELECT 'got:' || string_agg((r).key, ',') FROM topics.get_records('$it_wake', 10, '5 min') g, unnest(g.records) r};
	}
	my $s = $standby->background_psql('postgres');
	$s->query_safe("SET application_name = 'standby_wake'");
	$s->query_until(qr/started/, "\\echo started\n$call;\n\\echo done\n");
	ok( $standby->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
			WHERE application_name = 'standby_wake' AND wait_event_type = 'Extension'}),
		"standby: $kind waits past the last record");
	# replay moves on without a record for it (another topic's): it looks
	# again and goes on waiting
	$primary->safe_psql('postgres', q{SELECT topics.produce('sr_lp', 'other', 'v')});
	$primary->wait_for_catchup($standby);
	ok( $standby->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
			WHERE application_name = 'standby_wake' AND wait_event_type = 'Extension'}),
		"standby: $kind still waits after replay of another topic's commit");
	$primary->safe_psql('postgres', qq{SELECT topics.produce('sr_wake', 'woke-$kind', 'v')});
	my $got = $s->query_until(qr/done/, '');
	like($got, qr/got:woke-$kind\b/, "standby: $kind returned the record once replay brought its commit");
	$s->quit;
}

# A consumer group cannot move on a standby: consume says so, and where to
# consume (since 0.15; before, "cannot execute INSERT in a read-only
# transaction")
my ($rc, $out_c, $err_c) = $standby->psql('postgres',
	q{SELECT count(*) FROM topics.consume('sr_group', 'sr_wake')});
isnt($rc, 0, 'standby: consume fails');
like($err_c, qr/cannot move consumer group "sr_group" in a read-only transaction/,
	'standby: consume says a group cannot move there');
like($err_c, qr/Consumer groups live on the primary/, 'standby: and the hint says where');

$standby->stop;
$primary->stop;
done_testing();
