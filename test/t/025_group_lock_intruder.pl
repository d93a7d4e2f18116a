# A consumer group's first consume makes the group's rows under an advisory
# lock keyed by the topic's OID and the group id, and other members leave
# that work to the holder.  Any role may take an advisory lock: until 0.16 a
# login role without any privilege on the topic that held the key kept the
# group from starting (consume returned nothing while it held it).  A holder
# now counts only when its login role, or a prepared transaction's owner,
# may become a role that may read the topic: a reader holding the key, or a
# pool's login role that SETs ROLE to a reader, is still left to make the
# rows, and the other members return at once; since 0.18 the holder must
# also be a role that may use the group, once the group has an owner.
# (Isolation tests cannot log in as another
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

my $node = topics_node('intruder', conf => ['max_prepared_transactions = 2']);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE ROLE intruder LOGIN;
CREATE ROLE reader LOGIN;
CREATE ROLE readers NOLOGIN;
CREATE ROLE pooler LOGIN NOINHERIT IN ROLE readers;
SELECT topics.create_topic('orders', 2);
SELECT count(*) FROM topics.produce_batch('orders', ARRAY['a', 'b', 'c'], ARRAY['1', '2', '3'], partition => 0);
GRANT SELECT ON orders TO reader, readers;
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

# nor does a prepared transaction of such a role, which outlives its session
$node->safe_psql('postgres',
	'BEGIN; SELECT pg_advisory_xact_lock(' . $key->('prepared') . "); PREPARE TRANSACTION 'intruder'",
	extra_params => [ '-U', 'intruder' ]);
is($consume->('prepared'), '0:0,0:1,0:2', 'a prepared transaction of the intruder holding the key does not count');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'intruder'");

# a prepared transaction of a reader that made a group's rows does: the next
# member returns nothing instead of waiting for it
$node->safe_psql('postgres',
	"BEGIN; SELECT count(*) FROM topics.consume('ledger', 'orders', 10); PREPARE TRANSACTION 'member'",
	extra_params => [ '-U', 'reader' ]);
is($node->safe_psql('postgres',
		"SET statement_timeout = '60s'; SELECT count(*) FROM topics.consume('ledger', 'orders', 10)",
		extra_params => [ '-U', 'reader' ]),
	'0', 'a prepared member holding the key is left to make the rows');
$node->safe_psql('postgres', "COMMIT PREPARED 'member'");

# a pool that logs in as a role without the privilege and SETs ROLE to one
# with it is a member: the next member returns at once, without waiting for
# the first member's transaction (a statement timeout would end the wait)
my $pooled = $node->background_psql('postgres', extra_params => [ '-U', 'pooler' ]);
$pooled->query_safe('BEGIN');
$pooled->query_safe('SET ROLE readers');
is($pooled->query_safe("SELECT count(*) FROM topics.consume('pool', 'orders', 10)"),
	'3', 'a pooled member makes the group and reads');
is($node->safe_psql('postgres',
		"SET statement_timeout = '60s'; SELECT count(*) FROM topics.consume('pool', 'orders', 10)",
		extra_params => [ '-U', 'reader' ]),
	'0', 'the next member returns nothing while the pooled member\'s transaction runs');
$pooled->query_safe('COMMIT');
$pooled->quit;

# since 0.18 groups have owners, and a holder counts only when it may also
# use the group: a reader of the topic that holds the key of another role's
# group kept it from taking up partitions added to the topic
$node->safe_psql('postgres', 'CREATE ROLE other_team LOGIN; GRANT SELECT ON orders TO other_team');
is($consume->('owned'), '0:0,0:1,0:2', 'a group of role reader starts');
$node->safe_psql('postgres', q{
SELECT topics.alter_topic('orders', partitions => 3);
SELECT count(*) FROM topics.produce('orders', 'd', '4', partition => 2);
});
my $other = $node->background_psql('postgres', extra_params => [ '-U', 'other_team' ]);
$other->query_safe('SELECT pg_advisory_lock(' . $key->('owned') . ')');
is($consume->('owned'), '2:0', 'a reader that may not use the group holding its key does not count');
is($node->safe_psql('postgres',
		"SELECT string_agg(partition || ':' || seq, ',' ORDER BY partition) FROM topics.committed('owned', 'orders')"),
	'0:3,1:0,2:1', 'the added partition has its position');
$other->quit;

# a member calling through a SECURITY DEFINER function logs in as a role
# that may not use the group: the key it holds does not count, but the
# positions it is making do, so the next member returns at once instead
# of waiting for its transaction (as in 0.17; a review's finding on 0.18's
# first build)
$node->safe_psql('postgres', q{
CREATE ROLE app_owner;
GRANT SELECT ON orders TO app_owner;
CREATE ROLE app_l1 LOGIN;
CREATE ROLE app_l2 LOGIN;
GRANT SELECT ON orders TO app_l1, app_l2;
CREATE FUNCTION app_consume() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT count(*) FROM topics.consume('app', 'public.orders', 10) $$;
ALTER FUNCTION app_consume() OWNER TO app_owner;
SELECT topics.set_consumer_group_owner('app', 'orders', 'app_owner');
});
my $first = $node->background_psql('postgres', extra_params => [ '-U', 'app_l1' ]);
$first->query_safe('BEGIN');
is($first->query_safe('SELECT app_consume()'), '3', 'a member through a SECURITY DEFINER function makes the positions');
is($node->safe_psql('postgres', "SET statement_timeout = '60s'; SELECT app_consume()",
		extra_params => [ '-U', 'app_l2' ]),
	'0', 'the next one returns nothing while the first one\'s transaction runs');
$first->query_safe('COMMIT');
$first->quit;
is($node->safe_psql('postgres', 'SELECT app_consume()', extra_params => [ '-U', 'app_l2' ]),
	'1', 'and then reads on');

$node->stop;
done_testing();
