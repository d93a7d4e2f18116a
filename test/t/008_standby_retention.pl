# Retention on a primary with a streaming standby: removed pages, the moved
# log start, trimmed directory pages and reused pages all replay, so the
# standby returns exactly what the primary returns; after promotion the new
# primary keeps producing and applying retention without reusing a seq.
# The directory takes three entries a page here (a developer option), so
# that it is several levels deep and retention trims it on every run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $primary = topics_node('primary', init => { allows_streaming => 1 },
	conf => ['pg_topics.directory_fanout = 3']);
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION pg_topics;
CREATE EXTENSION pageinspect;
SELECT topics.create_topic('kept', 3, retention_bytes => 32768);
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', "pg_topics.maintenance_interval = 0");
$standby->start;

my $produce = q{
SELECT count(*) FROM topics.produce_batch('kept',
    ARRAY(SELECT 'key-' || g FROM generate_series(1, 600) g),
    ARRAY(SELECT convert_to(repeat(md5(g::text), 3), 'UTF8') FROM generate_series(1, 600) g));
};
for my $i (1 .. 15)
{
	$primary->safe_psql('postgres', $produce);
	$primary->safe_psql('postgres', 'SELECT count(*) FROM topics.maintain()');
	# freezing moves the state pages' frozen_upto, compared below too
	$primary->safe_psql('postgres', 'VACUUM (FREEZE) kept') if $i % 5 == 0;
}
my %q = (
	partitions => q{SELECT partition, log_start_seq, next_seq, record_count, bytes
					FROM topics.partitions ORDER BY partition},
	select => q{SELECT partition, seq, key, md5(value) FROM kept ORDER BY partition, seq},
	fetch => q{SELECT seq, key, md5(value) FROM topics.fetch('kept', 1,
				 (SELECT log_start_seq FROM topics.partitions WHERE partition = 1), 100000)},
	seek => q{SELECT seq FROM kept WHERE partition = 2 AND seq >= 0 ORDER BY seq LIMIT 50},
	seeks => q{SELECT b.partition, x, (SELECT seq FROM kept WHERE partition = b.partition AND seq >= x
										ORDER BY seq LIMIT 1)
			   FROM topics.partitions b, LATERAL generate_series(0, b.next_seq, 7) x},
	latest => q{SELECT seq FROM kept WHERE partition = 0 ORDER BY seq DESC LIMIT 40},
	at_time => q{SELECT topics.seq_at_time('kept', p, '2000-01-01') FROM generate_series(0, 2) p},
	size => q{SELECT pg_relation_size('kept')},
	# every page but the data pages (whose records carry hint flags set
	# without WAL, like heap's hint bits), byte for byte after the page
	# header's LSN, checksum and flags: the meta and state pages, the
	# directory, free pages.  Replay must rebuild them exactly.
	pages => q{SELECT string_agg(b || ':' || get_byte(p, (page_header(p)).special + 24)
								 || ':' || md5(substr(p, 13)), ' ' ORDER BY b)
			   FROM generate_series(0, (pg_relation_size('kept') / 8192)::int - 1) b,
					LATERAL (SELECT get_raw_page('kept', b) AS p) r
			   WHERE get_byte(p, (page_header(p)).special + 24) <> 3},
);
my $moved = $primary->safe_psql('postgres',
	q{SELECT bool_and(log_start_seq > 0) FROM topics.partitions});
is($moved, 't', 'retention moved every log start on the primary');
$primary->wait_for_catchup($standby);
for my $k (sort keys %q)
{
	is($standby->safe_psql('postgres', $q{$k}), $primary->safe_psql('postgres', $q{$k}),
		"standby returns what the primary returns: $k");
}
my $out_of_range = $standby->psql('postgres', q{SELECT * FROM topics.fetch('kept', 0, 0)});
isnt($out_of_range, 0, 'standby refuses to read below the log start too');

# promote; the new primary continues the log
my $last = $primary->safe_psql('postgres',
	q{SELECT string_agg(next_seq::text, ',' ORDER BY partition) FROM topics.partitions});
$primary->stop;
$standby->promote;
my @before = split /,/, $last;
for my $p (0 .. 2)
{
	is($standby->safe_psql('postgres', "SELECT seq FROM topics.produce('kept', 'first', 'x', partition => $p)"),
		$before[$p], "partition $p: the first seq after promotion is the old next seq $before[$p]");
}
for my $i (1 .. 5)
{
	$standby->safe_psql('postgres', $produce);
	$standby->safe_psql('postgres', 'SELECT count(*) FROM topics.maintain()');
}
is($standby->safe_psql('postgres',
		q{SELECT bool_and(next_seq > log_start_seq AND log_start_seq > 0) FROM topics.partitions}),
	't', 'the promoted standby keeps producing and removing');
is($standby->safe_psql('postgres',
		q{SELECT count(*) - count(DISTINCT (partition, seq)) FROM kept}), '0', 'no duplicate seqs');
is($standby->safe_psql('postgres',
		q{SELECT bool_and(bytes <= 32768 + 8192) FROM topics.partitions}), 't',
	'retention keeps working after promotion');
$standby->stop;
done_testing();
