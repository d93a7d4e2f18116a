# A seeded model check of compaction and retention (compaction_model.py):
# four topics ('compact', 'delete' by time with producer-given timestamps,
# 'delete' by bytes, 'compact,delete'), random produce, produce_batch and
# INSERT with a few keys, tombstones and NULL keys, in transactions that
# commit, roll back or stay open across steps, with savepoints; maintain,
# VACUUM (FREEZE, FULL), TRUNCATE and new partitions between them.  After
# every step it checks the bounds and next_seq against the model, that a
# scan, a seek, fetch from the log start, a TRIM_HORIZON iterator and a
# consumer group return exactly the records the model keeps (never an
# aborted one, one below the log start, or one removed), that a record
# goes only for a reason compaction or retention has (a later record of its
# key, an old tombstone, its age, the byte limit), and seq_at_time.  One
# seed with pg_topics.delete_retention = 0.  Written by an adversarial
# review of 0.9, which found no defect with it; 25 seeds of 200-1000 steps
# passed by hand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Basename qw(dirname);
use IPC::Run;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use TopicsNode;

my $python = python_driver();

my $node = topics_node('compaction_model');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_topics');

for my $run ([21, '--dr0'], [41])
{
	my ($seed, @mode) = @$run;
	my ($out, $err) = ('', '');
	my $exited_0 = IPC::Run::run(
		[
			$python, dirname(__FILE__) . '/compaction_model.py',
			$seed, 300, @mode, '--host', $node->host, '--port', $node->port
		],
		'>', \$out, '2>', \$err);
	ok($exited_0 && $out =~ /^seed $seed( dr0)?: 300 steps OK;/m, "seed $seed @mode: every check held")
	  or diag($out . $err);
}

$node->stop;
done_testing();
