# A consumer group's first consume makes the group's rows under an advisory
# lock keyed by the topic's OID and the group id, and other members leave
# that work to the holder.  Any role may take an advisory lock: until 0.16 a
# login role without any privilege on the topic that held the key kept the
# group from starting (consume returned nothing while it held it).  A holder
# now counts only when it may read the topic: a reader holding the key is
# still left to make the rows.  (Isolation tests cannot log in as another
# role: SET ROLE leaves pg_stat_activity's user, which the check reads, as
# it was.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('intruder');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE ROLE intruder LOGIN;
CREATE ROLE reader LOGIN;
SELECT topics.create_topic('orders', 2);
SELECT count(*) FROM topics.produce_batch('orders', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => 0);
GRANT SELECT ON orders TO reader;
});

my $key = sub {
	my ($group) = @_;
	return "hashtextextended('pg_topics consumer group ' || 'orders'::regclass::oid || ' $group', 0)";
};
my $consume = sub {
	my ($group) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(partition || ':' || seq, ',' ORDER BY partition, seq) "
		  . "FROM topics.consume('$group', 'orders', 10)",
		extra_params => [ '-U', 'reader' ]);
};

# a role that may not read the topic holds the key of group "billing"
my $intruder = $node->background_psql('postgres', extra_params => [ '-U', 'intruder' ]);
$intruder->query_safe('SELECT pg_advisory_lock(' . $key->('billing') . ')');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"),
	'1', 'the intruder holds the group key');
is($consume->('billing'), '0:0,0:1,0:2', 'the group starts although an intruder holds its key');
is($node->safe_psql('postgres',
		"SELECT string_agg(partition || ':' || seq, ',' ORDER BY partition) FROM topics.committed('billing', 'orders')"),
	'0:3,1:0', 'and stores its positions');
$intruder->quit;

# a role that may read the topic holding the key is taken for a member
# making the rows, and left to it, as before
my $member = $node->background_psql('postgres', extra_params => [ '-U', 'reader' ]);
$member->query_safe('SELECT pg_advisory_lock(' . $key->('audit') . ')');
is($consume->('audit'), '', 'a reader holding the key is left to make the rows');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM topics.committed_offsets WHERE group_id = 'audit'"),
	'0', 'so the group has no positions yet');
$member->quit;
is($consume->('audit'), '0:0,0:1,0:2', 'once it lets go, the group starts');

$node->stop;
done_testing();
