# pg_dump / pg_restore and pg_dump | psql of a database with topics:
# the restored database has the same partitions, seqs (gaps included),
# records byte for byte, committed consumer group positions (and the
# groups' owners) and retention settings, and producing continues after the restored seqs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $node = topics_node('dump');
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION pg_topics;
CREATE SCHEMA "Sales Dept";
SELECT topics.create_topic('"Sales Dept"."Orders"', 4, retention => '7 days', retention_bytes => 10000000);
SELECT topics.create_topic('audit', 1);
SELECT count(*) FROM topics.produce_batch('"Sales Dept"."Orders"',
    ARRAY(SELECT 'customer-' || g FROM generate_series(1, 2000) g),
    ARRAY(SELECT decode(md5(g::text), 'hex') FROM generate_series(1, 2000) g),
    ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 2000) g));
INSERT INTO audit (key, value, ts)
SELECT NULL, convert_to(repeat('a', g % 3000), 'UTF8'), '2020-01-01'::timestamptz + g * interval '1 s'
FROM generate_series(1, 500) g;
SELECT count(*) FROM topics.consume('billing', '"Sales Dept"."Orders"', 100);
SELECT count(*) FROM topics.consume('billing', '"Sales Dept"."Orders"', 100);
SELECT topics.set_auto_offset_reset('late', 'audit', 'latest');
SELECT count(*) FROM topics.consume('late', 'audit', 10);
-- groups have owners since 0.18: a role's, an open one (NULL), the maker's
CREATE ROLE app_team;
SELECT topics.set_consumer_group_owner('shared', 'audit', 'app_team');
SELECT topics.set_consumer_group_owner('open', 'audit', NULL);
});
# an aborted transaction leaves a gap in the middle of partition 1
$node->safe_psql('src', q{
BEGIN;
SELECT topics.produce('"Sales Dept"."Orders"', 'aborted', 'x', partition => 1);
ROLLBACK;
SELECT topics.produce('"Sales Dept"."Orders"', 'after-gap', 'y', partition => 1);
});

# retention freed pages and appends reused them, so the newest records sit
# in the lowest blocks: until 0.9 the dump's COPY read them in block order
# and the restore failed ("seq ... is below the next seq"), losing the topic
$node->safe_psql('src', q{
SELECT topics.create_topic('recycled', 2, retention_bytes => 16384);
SELECT count(*) FROM topics.produce_batch('recycled', array_fill('k'::text, ARRAY[1000]),
    ARRAY(SELECT repeat('v', 100) || g FROM generate_series(1, 1000) g));
SELECT count(*) FROM topics.maintain('recycled');
SELECT count(*) FROM topics.produce_batch('recycled', array_fill('k'::text, ARRAY[600]),
    ARRAY(SELECT repeat('w', 100) || g FROM generate_series(1, 600) g));
});
# TRUNCATE keeps the partitions' next seqs; until 0.12 a dump did not carry
# them, and a partition it had left empty restarted at seq 0.  One such
# topic sorts before topics.truncation_points in the dump and one after, so
# the restore loads the points both after and before the topic's records.
for my $name ('emptied', 'zz_late.emptied')
{
	$node->safe_psql('src', qq{
CREATE SCHEMA IF NOT EXISTS zz_late;
SELECT topics.create_topic('$name', 3);
SELECT count(*) FROM topics.produce_batch('$name', array_fill('k'::text, ARRAY[300]),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 300) g), partition => 0);
SELECT count(*) FROM topics.produce_batch('$name', array_fill('k'::text, ARRAY[10]),
    ARRAY(SELECT 'v' || g FROM generate_series(1, 10) g), partition => 1);
TRUNCATE $name;
SELECT topics.produce('$name', 'after', 'truncate', partition => 1);
});
}

ok($node->safe_psql('src', q{
SELECT count(*) > 0 FROM (SELECT seq < lag(seq) OVER (PARTITION BY partition ORDER BY ctid) AS back
                          FROM recycled) s WHERE back}) eq 't',
	'recycled: pages were reused out of block order');

my %q = (
	recycled => q{SELECT partition, seq, ts, key, md5(value) FROM recycled ORDER BY partition, seq},
	records => q{SELECT partition, seq, ts, key, encode(value, 'hex'), headers
				 FROM "Sales Dept"."Orders" ORDER BY partition, seq},
	audit => q{SELECT seq, ts, md5(value) FROM audit ORDER BY seq},
	partitions => q{SELECT topic, partition, log_start_seq, next_seq, record_count
					FROM topics.partitions ORDER BY topic::text, 2},
	topics => q{SELECT topic, partitions, retention, retention_bytes, cleanup_policy
				FROM topics.topics ORDER BY topic::text},
	positions => q{SELECT group_id, topic, partition, seq FROM topics.committed_offsets ORDER BY 1, topic::text, 3},
	groups => q{SELECT group_id, topic, auto_offset_reset, owner FROM topics.consumer_groups ORDER BY 1, topic::text},
	truncation_points => q{SELECT topic, partition, next_seq, truncated_at
						   FROM topics.truncation_points ORDER BY topic::text, 2},
	fetch => q{SELECT seq, key FROM topics.fetch('"Sales Dept"."Orders"', 1, 0, 10000)},
);
my %before;
$before{$_} = $node->safe_psql('src', $q{$_}) for keys %q;
like($before{partitions}, qr/Orders.*\|3\|/, 'source has 4 partitions');
like($before{groups}, qr/^open\|audit\|earliest\|\nshared\|audit\|earliest\|app_team$/m,
	'source: groups owned by a role and by none');
like($before{partitions}, qr/^emptied\|0\|300\|300\|0\n/m,
	'source: TRUNCATE left partition 0 of emptied empty at seq 300');

my $dumpfile = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dumpfile ],
	'pg_dump -Fc');

# the restore loads the truncation points between the two topics' records
my ($toc_out) = run_command([ 'pg_restore', '-l', $dumpfile ]);
my @toc = grep { /TABLE DATA/ } split /\n/, $toc_out;
my ($first, $points, $last) = map {
	my $re = $_;
	(grep { $toc[$_] =~ $re } 0 .. $#toc)[0]
} (qr/ public emptied /, qr/ topics truncation_points /, qr/ zz_late emptied /);
ok(defined $first && defined $points && defined $last && $first < $points && $points < $last,
	'dump order: public.emptied, then topics.truncation_points, then zz_late.emptied');

# a group's owner is kept by name: a restore where the role is missing
# (another cluster, say) loads the groups all the same, the group then being
# the topic owner's (with a regrole column, as 0.18 first had, the whole
# table failed to load and every group lost its owner and settings)
$node->safe_psql('src', 'DROP ROLE app_team');

# pg_restore into a fresh database
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dumpfile ],
	'pg_restore');

# pg_dump | psql into another
$node->safe_psql('postgres', 'CREATE DATABASE piped');
my $sql = $node->basedir . '/src.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $sql ], 'pg_dump plain');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('piped'), '-f', $sql ],
	'psql < dump');

# a role that is not a superuser dumps it all with BYPASSRLS and
# pg_read_all_data (the extension's tables have row-level security)
$node->safe_psql('postgres', q{
CREATE ROLE backup LOGIN BYPASSRLS;
GRANT pg_read_all_data TO backup;
CREATE DATABASE by_backup});
my $backup_sql = $node->basedir . '/backup.sql';
$node->command_ok([ 'pg_dump', '-U', 'backup', '-d', $node->connstr('src'), '-f', $backup_sql ],
	'pg_dump as a BYPASSRLS role');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('by_backup'),
	'-f', $backup_sql ], 'psql < that dump');

for my $db (qw(restored piped by_backup))
{
	for my $k (sort keys %q)
	{
		is($node->safe_psql($db, $q{$k}), $before{$k}, "$db: $k identical");
	}
	# producing continues after the restored seqs: nothing is reused
	my $next = $node->safe_psql($db,
		q{SELECT seq FROM topics.produce('"Sales Dept"."Orders"', 'new', 'z', partition => 1)});
	my $max = $node->safe_psql('src',
		q{SELECT max(seq) FROM "Sales Dept"."Orders" WHERE partition = 1});
	cmp_ok($next, '>', $max, "$db: new seq $next after restored max $max");
	# and after the seqs a TRUNCATE left, in a partition with no records
	for my $name ('emptied', 'zz_late.emptied')
	{
		is($node->safe_psql($db,
			qq{SELECT seq FROM topics.produce('$name', 'new', 'z', partition => 0)}),
			'300', "$db: $name partition 0 goes on at its truncated seq");
	}
	# the group continues where it committed
	my $consumed = $node->safe_psql($db,
		q{SELECT min(seq) FROM topics.consume('billing', '"Sales Dept"."Orders"', 10)
		  WHERE partition = (SELECT partition FROM topics.committed('billing', '"Sales Dept"."Orders"')
							 WHERE seq > 0 ORDER BY partition LIMIT 1)});
	ok($consumed eq '' || $consumed >= 100, "$db: group resumes at its position");
}

$node->stop;
done_testing();
