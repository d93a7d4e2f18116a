# What a hot standby's old snapshot sees after VACUUM on the primary.
#
# The primary's VACUUM decides by its own horizon, which a standby query
# can be older than (without hot_standby_feedback nothing tells the primary
# about it).  Two things VACUUM writes would let such a query see records
# committed after its snapshot:
#
#  - a page flagged all-visible (WAL-logged when it also marks aborted
#    records dead): readers on a standby must not trust the flag, as heap's
#    scans ignore PD_ALL_VISIBLE there;
#  - frozen records: frozen means "visible to every snapshot", so replay of
#    a freeze must first resolve the conflict with older snapshots (cancel
#    them, after max_standby_streaming_delay), as heap's freeze records do.
#
# A third case checks that the conflict is not raised when nothing needs
# it: with hot_standby_feedback the primary's horizon holds back for the
# standby's snapshot, VACUUM FREEZE freezes only what that snapshot sees,
# and the standby's query goes on.
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
CREATE EXTENSION pg_walinspect;
CREATE TABLE flush_marker (i int);
SELECT topics.create_topic('flagged', 1);
SELECT topics.create_topic('frozen', 1);
SELECT topics.create_topic('held', 1);
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# replay cancels conflicting queries at once, rather than waiting for them
$standby->append_conf('postgresql.conf', qq{
pg_topics.maintenance_interval = 0
max_standby_streaming_delay = 0
wal_receiver_status_interval = 1
});
$standby->start;

# 400-byte values, 19 records a data page
my $produce = sub {
	my ($topic, $n) = @_;
	$primary->safe_psql('postgres', qq{
		SELECT count(*) FROM topics.produce_batch('$topic',
			ARRAY(SELECT 'k' FROM generate_series(1, $n)),
			ARRAY(SELECT repeat(md5(g::text), 12) || lpad(g::text, 16, '0')
				  FROM generate_series(1, $n) g), partition => 0)});
};

# VACUUM of a topic on the primary; returns the conflict-only records it
# wrote for the topic (nbtree's REUSE_PAGE, see topic_xlog_snapshot_conflict)
my $vacuum = sub {
	my ($topic, $options) = @_;
	my $start = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$primary->safe_psql('postgres', "VACUUM $options $topic");
	# a committed write flushes the WAL before it (synchronous_commit is on)
	$primary->safe_psql('postgres', 'INSERT INTO flush_marker VALUES (1)');
	return $primary->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_get_wal_records_info('$start', pg_current_wal_flush_lsn())
		WHERE resource_manager = 'Btree' AND record_type = 'REUSE_PAGE'
		AND description ~ ('/' || pg_relation_filenode('$topic') || ';')});
};

# how a snapshot reads a topic: a scan, a SELECT by seq, and fetch
my $reads = sub {
	my ($topic) = @_;
	return qq{SELECT (SELECT count(*) FROM $topic) || ' ' ||
		(SELECT count(*) FROM $topic WHERE partition = 0 AND seq >= 0) || ' ' ||
		(SELECT count(*) FROM topics.fetch('$topic', 0, 0, 100000))};
};

# A standby session holding a REPEATABLE READ snapshot that sees the
# topic's first 10 records; and, at the end, that it still sees just them,
# while a new snapshot sees all 50.
# Replay cancels at once whatever conflicts with it, and that includes a
# session still starting up, pinning a catalog page the primary has just
# pruned ("User was holding shared buffer pin for too long", seen once, on
# 2026-12-02): the session is then opened again, up to three times.
my $hold_snapshot = sub {
	my ($topic, %params) = @_;
	my ($session, $seen);
	for my $attempt (1 .. 3)
	{
		$session = $standby->background_psql('postgres', %params);
		$seen = eval {
			$session->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
			$session->query_safe($reads->($topic));
		};
		last if defined $seen;
		note "the standby session ended before its snapshot was taken (attempt $attempt): $@";
		eval { $session->quit };
	}
	is($seen, '10 10 10', "$topic: the standby snapshot sees the 10 records before it");
	return $session;
};
my $release_snapshot = sub {
	my ($session, $topic, $what) = @_;
	is($session->query_safe($reads->($topic)), '10 10 10', "$topic: the standby snapshot $what");
	$session->query_safe('COMMIT');
	is($session->query_safe($reads->($topic)), '50 50 50',
		"$topic: a new snapshot sees all 50 records");
	$session->quit;
};

# --- a page flagged all-visible, with WAL ---------------------------------
$produce->('flagged', 10);
$primary->wait_for_catchup($standby);
my $s = $hold_snapshot->('flagged');

# seqs 10-12 aborted, on the first page: VACUUM marks them dead and flags
# the page (full, every record settled for the primary) with WAL
$primary->safe_psql('postgres', qq{
BEGIN;
SELECT count(*) FROM topics.produce_batch('flagged', '{a,b,c}'::text[], '{x,y,z}'::text[],
	partition => 0);
ROLLBACK;
});
$produce->('flagged', 40);
is($vacuum->('flagged', ''), '0', 'flagged: VACUUM froze nothing and wrote no conflict');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
	AND state = 'idle in transaction'}), '1',
	'flagged: the standby snapshot was not cancelled');
$release_snapshot->($s, 'flagged', 'still sees only its 10 records');

# --- frozen records ---------------------------------------------------------
$produce->('frozen', 10);
$primary->wait_for_catchup($standby);
my $confl_before = $standby->safe_psql('postgres',
	q{SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = 'postgres'});
$s = $hold_snapshot->('frozen', on_error_stop => 0);
my $pid = $s->query_safe('SELECT pg_backend_pid()');

$produce->('frozen', 40);
is($vacuum->('frozen', '(FREEZE)'), '1',
	'frozen: VACUUM FREEZE wrote one conflict record for all its pages');
$primary->wait_for_catchup($standby);
# replay of the freeze went on only once the snapshot was gone
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '0',
	'frozen: replay of the freeze ended the session holding the older snapshot');
my ($out) = eval { $s->query($reads->('frozen')) };
unlike($out // '', qr/^\d+ \d+ \d+$/,
	'frozen: the session with the older snapshot reads nothing more');
like($s->{stderr}, qr/conflict with recovery/,
	'frozen: it was told of the conflict with recovery');
$s->{run}->kill_kill;
ok($standby->poll_query_until('postgres', qq{
	SELECT confl_snapshot > $confl_before FROM pg_stat_database_conflicts
	WHERE datname = 'postgres'}),
	'frozen: counted as a snapshot conflict');
is($standby->safe_psql('postgres', $reads->('frozen')), '50 50 50',
	'frozen: a new snapshot on the standby sees all 50 records');

# --- no conflict when the primary's horizon waited for the standby ----------
$standby->safe_psql('postgres', 'ALTER SYSTEM SET hot_standby_feedback = on');
$standby->reload;
$produce->('held', 10);
# a later transaction, so that the standby's horizon (which it reports as
# the oldest xid it may still consider running) passes the records' xmin
my $later = $primary->safe_psql('postgres', 'SELECT txid_current()');
$primary->wait_for_catchup($standby);
$s = $hold_snapshot->('held');
my $xmin = $s->query_safe(q{SELECT backend_xmin FROM pg_stat_activity WHERE pid = pg_backend_pid()});
# the standby reports its horizon to the primary: past the records, not
# past its snapshot's xmin (it reports at wal_receiver_status_interval)
ok($primary->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_replication
	WHERE backend_xmin::text::bigint BETWEEN $later AND $xmin}),
	'held: the primary holds its horizon for the standby snapshot');
$produce->('held', 40);
is($vacuum->('held', '(FREEZE)'), '1',
	'held: VACUUM FREEZE froze the records before the standby snapshot');
$primary->wait_for_catchup($standby);
$release_snapshot->($s, 'held', 'was not cancelled and sees its 10 records');

$standby->stop;
$primary->stop;
done_testing();
