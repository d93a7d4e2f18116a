# The maintenance worker settles a removal that did not commit on any topic
# whose relfrozenxid is due for an aggressive VACUUM, settings or not.
#
# Retention and compaction remove records in WAL records that do not wait
# for the transaction, and the transaction deletes their out-of-line
# values; when it does not commit, the values' ids wait on free pages
# stamped with it, which the next run of retention or compaction deletes,
# and until then VACUUM keeps relfrozenxid at or before that transaction.
# Until 0.18 only the worker's runs for topics with settings settled them,
# and a compacted topic's only when a compaction was due: a topic whose
# settings were reset after such a run, or a compacted one nobody produced
# to any more, kept its relfrozenxid back for good, on the way to the
# transaction id wraparound limit (a review's finding).  Here
# vacuum_freeze_table_age = 0 makes every topic due.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('unsettled', conf => ['autovacuum = off', 'vacuum_freeze_table_age = 0']);
$node->start;
toast_removal_topics($node, 'plain', 'cmp');

# removals that roll back: retention on a topic without settings (as after
# alter_topic(..., reset_retention_bytes => true)), and a compaction, which
# the worker then finds not due (nothing was produced since)
my %xid;
for my $t ([ 'plain', q{SELECT count(*) FROM topics._apply_retention('plain', NULL, 0)} ],
	[ 'cmp', q{SELECT count(*) FROM topics.maintain('cmp')} ])
{
	my ($name, $sql) = @$t;
	$xid{$name} = $node->safe_psql('postgres', qq{
BEGIN;
$sql;
SELECT pg_current_xact_id();
ROLLBACK;
});
	$xid{$name} = (split /\n/, $xid{$name})[-1];
}
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(*) FILTER (WHERE length(value) > 1000) FROM plain) || ' ' ||
	       (SELECT count(*) FILTER (WHERE length(value) > 1000) FROM cmp) || ' ' ||
	       stored_values('plain') || ' ' || stored_values('cmp')}),
	'0 4 20 20', 'the removed records are gone, their values are still stored');

# VACUUM holds relfrozenxid back, and says so
my ($ret, $out, $err) = $node->psql('postgres', 'VACUUM (FREEZE) plain');
like($err, qr/relfrozenxid of topic "plain" is held back by a removal of records that did not commit/,
	'VACUUM warns');
like($err, qr/HINT:  Run SELECT topics\.maintain\('public\.plain'\)\./, 'and says what settles it');
is($node->safe_psql('postgres',
		"SELECT relfrozenxid::text::bigint <= $xid{plain} FROM pg_class WHERE oid = 'plain'::regclass"),
	't', 'relfrozenxid of plain is held back');

# the worker settles both (it compacts cmp only when due, and plain has no
# settings)
$node->append_conf('postgresql.conf', 'pg_topics.maintenance_interval = 1');
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT stored_values('plain') = 0 AND stored_values('cmp') = 4}),
	'the worker deleted the values of both removals');
$node->safe_psql('postgres', 'VACUUM (FREEZE) plain');
$node->safe_psql('postgres', 'VACUUM (FREEZE) cmp');
is($node->safe_psql('postgres', qq{
	SELECT (SELECT relfrozenxid::text::bigint > $xid{plain} FROM pg_class WHERE oid = 'plain'::regclass)
	   AND (SELECT relfrozenxid::text::bigint > $xid{cmp} FROM pg_class WHERE oid = 'cmp'::regclass)}),
	't', 'then VACUUM moves relfrozenxid on');

$node->stop;
done_testing();
