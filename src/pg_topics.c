/*-------------------------------------------------------------------------
 *
 * pg_topics.c
 *	  Module entry point: settings, and the parse-analysis guard that
 *	  rejects statements that would modify records of a topic.
 *
 * Records are immutable.  The access method's tuple_update/tuple_delete
 * callbacks already fail, but they are only reached when a row qualifies, so
 * "DELETE FROM topic WHERE false" would silently succeed and MERGE or
 * SELECT FOR UPDATE would fail late.  The post_parse_analyze hook rejects all
 * of them up front, so every such statement fails the same way whatever it
 * matches.  The library is loaded before the hook matters: opening a topic
 * relation during parse analysis calls the access method handler, which loads
 * this library and installs the hook before the hook point is reached.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "executor/executor.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

int			topics_max_record_bytes = 1024 * 1024;
int			topics_timestamp_after_max = 60 * 60 * 1000;

int			topics_debug_fail_in_growth = TOPIC_GROWTH_FAIL_OFF;
bool		topics_debug_skip_directory_entry = false;

static const struct config_enum_entry growth_failure_options[] = {
	{"off", TOPIC_GROWTH_FAIL_OFF, false},
	{"error", TOPIC_GROWTH_FAIL_ERROR, false},
	{"crash", TOPIC_GROWTH_FAIL_CRASH, false},
	{"crash_in_state_pages", TOPIC_GROWTH_FAIL_CRASH_IN_STATE_PAGES, false},
	{NULL, 0, false}
};

static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;

void		_PG_init(void);

static bool
rte_is_topic(RangeTblEntry *rte)
{
	HeapTuple	tp;
	Oid			relam;
	Oid			amoid;

	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_RELATION)
		return false;
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(rte->relid));
	if (!HeapTupleIsValid(tp))
		return false;
	relam = ((Form_pg_class) GETSTRUCT(tp))->relam;
	ReleaseSysCache(tp);
	amoid = topic_am_oid();
	return OidIsValid(amoid) && relam == amoid;
}

void
topic_on_conflict_error(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("ON CONFLICT is not supported on topic \"%s\"", relname),
			 errdetail("A topic has no unique index: every record is appended."),
			 errhint("Produce every record: a topic keeps them all, and a compacted one (cleanup_policy 'compact') the latest per key.")));
}

/*
 * The errors for statements that would change or lock records, or insert
 * with ON CONFLICT (above), raised wherever a statement is found to do so:
 * the parse hook (the common case, before any planning), the plan after
 * rewriting (through a view or a rule), and the access method as a last
 * resort; one wording for all.
 */
void
topic_immutable_error(CmdType cmd, const char *relname)
{
	if (cmd == CMD_MERGE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("MERGE is not supported on topic \"%s\"", relname),
				 errdetail("Records of a topic are immutable."),
				 errhint("Add records with INSERT ... SELECT.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 cmd == CMD_UPDATE ?
			 errmsg("cannot update records of topic \"%s\"", relname) :
			 errmsg("cannot delete records of topic \"%s\"", relname),
			 errdetail("Records of a topic are immutable."),
			 errhint("Produce a new record instead; use TRUNCATE or DROP TABLE to remove a whole topic.")));
}

void
topic_lock_error(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot lock records of topic \"%s\"", relname),
			 errdetail("Records of a topic are immutable, so there is nothing to lock."),
			 errhint("Remove FOR UPDATE / FOR SHARE for the topic.")));
}

static bool
topics_check_query_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		if (query->commandType == CMD_UPDATE ||
			query->commandType == CMD_DELETE ||
			query->commandType == CMD_MERGE)
		{
			RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);

			if (rte_is_topic(rte))
				topic_immutable_error(query->commandType, get_rel_name(rte->relid));
		}

		/*
		 * ON CONFLICT needs a unique index to arbitrate, which a topic cannot
		 * have; without a conflict target PostgreSQL looks for none and
		 * inserted (until 0.9), as if the clause meant something.  Through
		 * a view or a rule the target is a topic only after rewriting:
		 * topics_executor_start checks the plan.
		 */
		if (query->commandType == CMD_INSERT && query->onConflict != NULL &&
			rte_is_topic(rt_fetch(query->resultRelation, query->rtable)))
			topic_on_conflict_error(get_rel_name(rt_fetch(query->resultRelation, query->rtable)->relid));

		foreach(lc, query->rowMarks)
		{
			RowMarkClause *rc = (RowMarkClause *) lfirst(lc);
			RangeTblEntry *rte = rt_fetch(rc->rti, query->rtable);

			if (rte_is_topic(rte))
				topic_lock_error(get_rel_name(rte->relid));
		}

		return query_tree_walker(query, topics_check_query_walker, context, 0);
	}
	return expression_tree_walker(node, topics_check_query_walker, context);
}

/*
 * A change of a plan (the top one, or a WITH's) that a topic refuses: an
 * UPDATE, DELETE or MERGE, or an INSERT ... ON CONFLICT.
 */
static void
check_plan_modify(PlannedStmt *stmt, Plan *plan)
{
	ModifyTable *mt;
	ListCell   *lc;

	if (plan == NULL || !IsA(plan, ModifyTable))
		return;
	mt = (ModifyTable *) plan;
	if (mt->operation == CMD_INSERT && mt->onConflictAction == ONCONFLICT_NONE)
		return;
	foreach(lc, mt->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), stmt->rtable);

		if (!rte_is_topic(rte))
			continue;
		if (mt->operation == CMD_INSERT)
			topic_on_conflict_error(get_rel_name(rte->relid));
		topic_immutable_error(mt->operation, get_rel_name(rte->relid));
	}
}

/*
 * The checks of the parse hook again after rewriting: through a view over a
 * topic, or a rule, a statement reaches the topic only then.  An INSERT ...
 * ON CONFLICT inserted (until 0.9); an UPDATE, DELETE or MERGE failed in
 * the access method with other words, or, matching no record, succeeded
 * (until 0.13); FOR UPDATE failed in the access method.  Only plans that
 * change something, or lock rows, are looked at.
 */
static void
topics_executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	ListCell   *lc;

	if (stmt->commandType != CMD_SELECT || stmt->hasModifyingCTE)
	{
		check_plan_modify(stmt, stmt->planTree);
		foreach(lc, stmt->subplans)
			check_plan_modify(stmt, (Plan *) lfirst(lc));
	}
	foreach(lc, stmt->rowMarks)
	{
		PlanRowMark *rc = (PlanRowMark *) lfirst(lc);

		/* the marks of the other relations of an UPDATE or DELETE lock nothing */
		if (RowMarkRequiresRowShareLock(rc->markType) &&
			rte_is_topic(rt_fetch(rc->rti, stmt->rtable)))
			topic_lock_error(get_rel_name(rt_fetch(rc->rti, stmt->rtable)->relid));
	}
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
topics_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);

	topics_check_query_walker((Node *) query, NULL);
}

void
_PG_init(void)
{
	DefineCustomIntVariable("pg_topics.max_record_bytes",
							"Largest record (key + value + headers bytes) a topic accepts.",
							"Like Kafka's message.max.bytes and Kinesis's 1 MiB limit.",
							&topics_max_record_bytes,
							1024 * 1024,
							1,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_topics.timestamp_after_max",
							"How far ahead of the server's clock a producer's record timestamp may be.",
							"Like Kafka's message.timestamp.after.max.ms: a record stamped far in the future "
							"keeps time-based retention from removing anything after it.  -1 allows any "
							"finite timestamp.",
							&topics_timestamp_after_max,
							60 * 60 * 1000,
							-1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_topics.shard_iterator_ttl",
							"How long a shard iterator stays valid after it is issued.",
							"Like Kinesis, whose iterators expire after 5 minutes.",
							&topics_shard_iterator_ttl,
							300000,
							0,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_topics.directory_fanout",
							"Entries a topic directory page takes before it splits (developer option).",
							"Small values build deep directories from few pages, for tests.",
							&topics_directory_fanout,
							TOPIC_DIR_CAPACITY,
							3,
							TOPIC_DIR_CAPACITY,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_topics.debug_fail_in_split",
							"Fail in the middle of a directory split at this level (developer option).",
							"For crash-recovery tests only: the next split of a directory page at this level writes "
							"its first WAL record, flushes WAL and raises an error.  -1 (the default) never does.",
							&topics_debug_fail_in_split,
							-1,
							-1,
							INT16_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("pg_topics.debug_fail_in_growth",
							 "Fail in the middle of adding partitions to a topic (developer option).",
							 "For crash-recovery tests only: \"error\" raises an error, and \"crash\" a PANIC, "
							 "after the WAL record of the new count; \"crash_in_state_pages\" a PANIC after the "
							 "first new state page.  WAL is flushed first.",
							 &topics_debug_fail_in_growth,
							 TOPIC_GROWTH_FAIL_OFF,
							 growth_failure_options,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_topics.debug_skip_directory_entry",
							 "Link new data pages without a directory entry (developer option).",
							 "For tests only: leaves pages as a crash between the two WAL records left "
							 "them under builds before 0.17 (no entry, no flag), so that readers' "
							 "handling of such pages can be tested.",
							 &topics_debug_skip_directory_entry,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	topic_maintenance_worker_register();
	topic_producers_init();
	MarkGUCPrefixReserved("pg_topics");

	topic_wait_init();
	topic_guard_init();
	topic_seekscan_init();
	topic_fetchscan_init();

	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = topics_post_parse_analyze;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = topics_executor_start;
}
