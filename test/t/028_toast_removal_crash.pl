# Out-of-line values of removed records are deleted after a crash in the
# middle of their removal.
#
# Retention frees pages, and compaction marks records dead, in WAL records
# that do not wait for the transaction; the records' TOAST values are
# deleted by the transaction.  A crash after the pages went and before the
# commit left the values with nothing pointing to them, for good (until
# 0.17).  Now their ids wait on a free page stamped with the removing
# transaction, and the next run deletes them, as it does after a rollback
# (regress retention).
#
# The backend removing the records is killed (SIGKILL, so the server
# restarts as after a crash) after a CHECKPOINT in its transaction has
# flushed the removal's WAL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('toastcrash', conf => ['restart_after_crash = on', 'autovacuum = off']);
$node->start;
toast_removal_topics($node, 'tr', 'tc');
is($node->safe_psql('postgres', q{SELECT stored_values('tr') || ' ' || stored_values('tc')}),
	'20 20', 'the values are stored out of line');

# remove, flush the removal's WAL, and crash before the commit
sub crash_in
{
	my ($what, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', qq{
BEGIN;
$sql;
CHECKPOINT;
DO \$\$ BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'kill -9 ' || pg_backend_pid()); END \$\$;
});
	isnt($ret, 0, "$what: the backend was killed");
	$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die 'the server did not restart';
}

crash_in('retention', q{SELECT * FROM topics._apply_retention('tr', NULL, 0)});
crash_in('compaction', q{SELECT * FROM topics.maintain('tc')});
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FILTER (WHERE length(value) > 1000) FROM tr) || ' ' ||
	       (SELECT count(*) FILTER (WHERE length(value) > 1000) FROM tc)}),
	'0 4', 'after the crash the removed records are gone');
is($node->safe_psql('postgres', q{SELECT stored_values('tr') || ' ' || stored_values('tc')}),
	'20 20', 'and their values are still stored');

# the next runs delete them
$node->safe_psql('postgres', q{SELECT * FROM topics._apply_retention('tr', NULL, NULL)});
$node->safe_psql('postgres', q{SELECT * FROM topics.maintain('tc')});
is($node->safe_psql('postgres', q{SELECT stored_values('tr') || ' ' || stored_values('tc')}),
	'0 4', 'the next runs deleted the values of the removed records');
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE length(value) = 5120) FROM tc}),
	'4', 'the kept records read back whole');

$node->stop;
done_testing();
