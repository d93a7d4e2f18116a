# Adding partitions survives a crash in the middle of it.
#
# alter_topic(partitions => n) writes the new count to the metapage when
# its transaction commits (XACT_EVENT_PRE_COMMIT), before the commit record.
# Until 0.16 a crash between the two kept the new partitions while the
# catalog's count (the n_distinct option pg_dump carries) rolled back:
# producers wrote to partitions a restore then refused.  Past 169
# partitions, where a growth adds state pages one WAL record each, a crash
# between two of them left a count in between.  Now the count is one record
# that counts once its transaction has committed, so a crash anywhere in a
# growth leaves the old count, on the primary and on a standby, and the next
# growth reuses the state pages the crashed one added.
#
# pg_topics.debug_fail_in_growth (a developer option) PANICs at the point
# under test with WAL flushed: 'crash' after the count's record,
# 'crash_in_state_pages' after the first new state page's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $primary = topics_node('growth_primary', init => { allows_streaming => 1 },
	conf => ['restart_after_crash = on', 'autovacuum = off']);
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
SELECT topics.create_topic('small', 2);
SELECT topics.create_topic('big', 100);
SELECT topics.produce('small', 'k', 'before', partition => 1);
SELECT topics.produce('big', 'k', 'before', partition => 99);
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('growth_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 0");
$standby->start;

# partition count of a topic: the storage's and the catalog's (n_distinct)
my $counts = q{
SELECT (SELECT count(*) FROM topics.partition_bounds('%1$s')) || '/' ||
       (SELECT o.option_value FROM pg_attribute a, pg_options_to_table(a.attoptions) o
        WHERE a.attrelid = '%1$s'::regclass AND a.attname = 'partition'
          AND o.option_name = 'n_distinct')};

sub counts
{
	my ($node, $topic) = @_;
	(my $q = $counts) =~ s/%1\$s/$topic/g;
	return $node->safe_psql('postgres', $q);
}

# run a growth that PANICs at "point"; wait for the restart and the standby
sub crash_growth
{
	my ($topic, $n, $point) = @_;
	my ($ret, $out, $err) = $primary->psql('postgres', qq{
SET pg_topics.debug_fail_in_growth = '$point';
SELECT topics.alter_topic('$topic', partitions => $n);});
	like($err, qr/PANIC:  pg_topics.debug_fail_in_growth: failing while adding partitions to topic "$topic"/,
		"$topic to $n: the growth crashed ($point)");
	$primary->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die 'the primary did not restart';
	# a commit after the restart, so that the standby has replayed the
	# crashed growth's records when it reaches it
	$primary->safe_psql('postgres', 'CREATE TABLE IF NOT EXISTS marker (i int); INSERT INTO marker VALUES (1)');
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
}

# a growth that commits shows on the standby
$primary->safe_psql('postgres', q{SELECT topics.alter_topic('small', partitions => 3)});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is(counts($standby, 'small'), '3/3', 'standby: a committed growth counts');

# a crash after the count's record: the old count everywhere
crash_growth('small', 5, 'crash');
is(counts($primary, 'small'), '3/3', 'small: the count of the crashed growth does not count');
is(counts($standby, 'small'), '3/3', 'standby: nor there');
my ($ret, $out, $err) = $primary->psql('postgres',
	q{SELECT topics.produce('small', 'k', 'v', partition => 4)});
like($err, qr/partition 4 of topic "small" does not exist/, 'small: no producing to partition 4');

# the same past 169 partitions: a growth to 400 cut short after its first
# new state page (of two), then one to 500 after both and the count
my $pages = q{SELECT pg_relation_size('big') / 8192};
my $blocks = $primary->safe_psql('postgres', $pages);
crash_growth('big', 400, 'crash_in_state_pages');
is(counts($primary, 'big'), '100/100', 'big: a growth cut short in its state pages does not count');
is($primary->safe_psql('postgres', $pages), $blocks + 1, 'big: it added one state page');
crash_growth('big', 500, 'crash');
is(counts($primary, 'big'), '100/100', 'big: nor the crashed growth to 500');
is(counts($standby, 'big'), '100/100', 'standby: nor there');
is($primary->safe_psql('postgres', $pages), $blocks + 2, 'big: the two added the two state pages it needs');
($ret, $out, $err) = $primary->psql('postgres',
	q{SELECT topics.produce('big', 'k', 'v', partition => 399)});
like($err, qr/partition 399 of topic "big" does not exist/, 'big: no producing to partition 399');

# growing again works, reuses the state pages of the crashed growths, and
# the new partitions take records
$blocks = $primary->safe_psql('postgres', $pages);
$primary->safe_psql('postgres', q{
SELECT topics.alter_topic('small', partitions => 5);
SELECT topics.alter_topic('big', partitions => 500);
});
is($primary->safe_psql('postgres', $pages), $blocks, 'big: growing again added no page');
$primary->safe_psql('postgres', q{
SELECT topics.produce('small', 'k', 'after', partition => 4);
SELECT topics.produce('big', 'k', 'after', partition => 499);
});
is(counts($primary, 'small') . ' ' . counts($primary, 'big'), '5/5 500/500',
	'the committed growths count');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is(counts($standby, 'small') . ' ' . counts($standby, 'big'), '5/5 500/500',
	'standby: the committed growths count');
is($standby->safe_psql('postgres',
	q{SELECT string_agg(partition || ':' || convert_from(value, 'UTF8'), ' ' ORDER BY partition)
	  FROM (SELECT * FROM small UNION ALL SELECT * FROM big) r}),
	'1:before 4:after 99:before 499:after', 'standby: the records');

# VACUUM folds the committed growth into the metapage's count, which a
# restart then reads without the growth's transaction
$primary->safe_psql('postgres', 'VACUUM small, big');
$primary->restart;
is(counts($primary, 'small') . ' ' . counts($primary, 'big'), '5/5 500/500',
	'after VACUUM and a restart');

# and a dump restores
$primary->safe_psql('postgres', 'CREATE DATABASE restored');
my $sql = $primary->basedir . '/growth.sql';
$primary->command_ok([ 'pg_dump', '-d', $primary->connstr('postgres'), '-f', $sql ], 'pg_dump');
$primary->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $primary->connstr('restored'),
	'-f', $sql ], 'psql < dump');
is($primary->safe_psql('restored',
	q{SELECT (SELECT count(*) FROM topics.partition_bounds('small')) || ' ' ||
	         (SELECT count(*) FROM topics.partition_bounds('big')) || ' ' ||
	         (SELECT string_agg(partition || ':' || convert_from(value, 'UTF8'), ' ' ORDER BY partition)
	          FROM (SELECT * FROM small UNION ALL SELECT * FROM big) r)}),
	'5 500 1:before 4:after 99:before 499:after', 'restored: counts and records');

$standby->stop;
$primary->stop;
done_testing();
