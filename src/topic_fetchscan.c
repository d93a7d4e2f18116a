/*-------------------------------------------------------------------------
 *
 * topic_fetchscan.c
 *	  TopicFetch: a custom scan that streams the rows of
 *		  SELECT ... FROM topics.fetch(...)
 *	  straight from the topic's pages.
 *
 * A set-returning function in FROM is run to completion into a tuplestore
 * before the query reads its first row (nodeFunctionscan.c), so every fetch
 * paid for forming, copying and re-reading each record.  For fetch in FROM,
 * called alone (no ORDINALITY, no ROWS FROM of several functions), the
 * planner hook replaces the function scan with this scan, which
 * runs the same walk as the function (topic_reader.c, stable mode) and
 * returns each record as a virtual row whose values point into the pinned
 * page, decoding the record no further than the last column the query uses.
 *
 * What the function does, the scan does alike: the same argument checks and
 * errors (topic_fetch_check_args), EXECUTE on the function and SELECT on the
 * topic, the last stable offset, max_records and max_bytes (the first record
 * always comes), and the long poll: when the walk hands out nothing and wait
 * is positive, it waits for a commit to the topic and walks again with a new
 * snapshot.  A rescan with new arguments walks again, as the function scan
 * calls again; a rescan with the same arguments returns the same rows.
 *
 * The one difference is when the records are read: while the query runs,
 * not all before it starts.  A query that also appends to the topic, like
 * any query that reads and writes one table, sees what its snapshot sees.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

typedef struct TopicFetchState
{
	CustomScanState css;
	ExprState  *argstates[TOPIC_FETCH_NARGS];
	TopicColumnMap colmap;		/* the scan tuple's columns in the record */

	/* the current call */
	bool		started;
	bool		done;
	TopicFetchArgs args;
	Relation	rel;
	TopicReader *reader;
	bool		keep_rows;		/* may be rescanned with the same arguments */
	Bitmapset  *funcparams;		/* PARAM_EXEC ids the arguments use */
	Tuplestorestate *store;		/* when rewind: the call's rows */
	TupleTableSlot *store_slot;
	bool		waiting;		/* long poll: wait > 0 and a new snapshot can
								 * see more */
	TimestampTz deadline;
	bool		last_look;		/* the deadline passed: one more walk */
	uint64		generation;		/* commit generation read before the walk */
	Snapshot	snapshot;		/* registered, when waiting */
	int64		count;
	int64		bytes;
} TopicFetchState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static Plan *fetch_plan_path(PlannerInfo *root, RelOptInfo *rel,
							 struct CustomPath *best_path, List *tlist,
							 List *clauses, List *custom_plans);
static Node *fetch_create_state(CustomScan *cscan);
static void fetch_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *fetch_exec(CustomScanState *node);
static void fetch_end(CustomScanState *node);
static void fetch_rescan(CustomScanState *node);
static void fetch_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomPathMethods fetch_path_methods = {
	.CustomName = "TopicFetch",
	.PlanCustomPath = fetch_plan_path,
};

static const CustomScanMethods fetch_scan_methods = {
	.CustomName = "TopicFetch",
	.CreateCustomScanState = fetch_create_state,
};

static const CustomExecMethods fetch_exec_methods = {
	.CustomName = "TopicFetch",
	.BeginCustomScan = fetch_begin,
	.ExecCustomScan = fetch_exec,
	.EndCustomScan = fetch_end,
	.ReScanCustomScan = fetch_rescan,
	.ExplainCustomScan = fetch_explain,
};

/* ------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------
 */

/*
 * Is funcid this library's fetch()?  Known by its C symbol and library, so
 * the check holds whatever schema the extension was installed in.
 */
static bool
is_topics_fetch(Oid funcid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		result = false;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	/*
	 * The scan calls no function, so it stands in only where fmgr would add
	 * nothing: not SECURITY DEFINER, no SET clauses, no fmgr hook, and no
	 * per-function statistics being kept for C functions.
	 */
	if (proc->prolang == ClanguageId && proc->proretset &&
		proc->pronargs == TOPIC_FETCH_NARGS && !proc->prosecdef &&
		heap_attisnull(tup, Anum_pg_proc_proconfig, NULL) &&
		!FmgrHookIsNeeded(funcid) && pgstat_track_functions != TRACK_FUNC_ALL)
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
		Datum		bin;

		if (!isnull && strcmp(TextDatumGetCString(src), "pg_topics_fetch") == 0)
		{
			bin = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
			result = !isnull && strstr(TextDatumGetCString(bin), "pg_topics") != NULL;
		}
	}
	ReleaseSysCache(tup);
	return result;
}

/*
 * The highest column number of rel used above the scan (0 for none): the
 * scan decodes records that far.  False for a whole-row use.
 */
static bool
last_needed_column(RelOptInfo *rel, int *last)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;
	int			k = -1;

	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &attrs);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, rel->relid, &attrs);

	*last = 0;
	while ((k = bms_next_member(attrs, k)) >= 0)
	{
		AttrNumber	attno = k + FirstLowInvalidHeapAttributeNumber;

		if (attno < 1 || attno > Natts_topic)
			return false;		/* whole row (or anything else): leave it */
		*last = Max(*last, attno);
	}
	return true;
}

static void
fetch_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
					   RangeTblEntry *rte)
{
	RangeTblFunction *rtfunc;
	FuncExpr   *fexpr;
	int			last_needed;
	CustomPath *cpath;
	Path	   *old;
	PlannerInfo *proot;
	bool		may_rescan;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	/* a base rel, or a branch of a UNION ALL pulled up into an append rel */
	if ((rel->reloptkind != RELOPT_BASEREL &&
		 rel->reloptkind != RELOPT_OTHER_MEMBER_REL) ||
		rte->rtekind != RTE_FUNCTION ||
		IS_DUMMY_REL(rel) || rte->funcordinality ||
		list_length(rte->functions) != 1 ||
		list_length(rel->pathlist) != 1 ||
		((Path *) linitial(rel->pathlist))->pathtype != T_FunctionScan)
		return;
	rtfunc = linitial(rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr))
		return;
	fexpr = (FuncExpr *) rtfunc->funcexpr;
	if (list_length(fexpr->args) != TOPIC_FETCH_NARGS ||
		contain_subplans((Node *) fexpr->args) ||
		!is_topics_fetch(fexpr->funcid) ||
		!last_needed_column(rel, &last_needed))
		return;

	/*
	 * Take the function scan's place, at its cost: the rows and the order of
	 * the calls stay what they were, only the tuplestore goes.
	 */
	old = linitial(rel->pathlist);
	may_rescan = false;
	for (proot = root->parent_root; proot != NULL; proot = proot->parent_root)
		if (proot->plan_params != NIL)
			may_rescan = true;	/* in a correlated subquery */
	cpath = makeNode(CustomPath);
	cpath->path.pathtype = T_CustomScan;
	cpath->path.parent = rel;
	cpath->path.pathtarget = rel->reltarget;
	/* LATERAL: the outer columns become parameters, as for the function scan */
	cpath->path.param_info = old->param_info;
	cpath->path.parallel_aware = false;
	cpath->path.parallel_safe = false;
	cpath->path.parallel_workers = 0;
	cpath->path.rows = old->rows;
	cpath->path.startup_cost = old->startup_cost;
	cpath->path.total_cost = old->total_cost;
	cpath->path.pathkeys = NIL;
	cpath->flags = CUSTOMPATH_SUPPORT_PROJECTION;	/* ExecScan projects */
	cpath->methods = &fetch_path_methods;
	cpath->custom_private = list_make3(fexpr, makeInteger(last_needed),
									   makeBoolean(may_rescan));

	rel->pathlist = NIL;
	rel->partial_pathlist = NIL;
	add_path(rel, &cpath->path);
}

static Plan *
fetch_plan_path(PlannerInfo *root, RelOptInfo *rel, struct CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	FuncExpr   *fexpr = linitial(best_path->custom_private);
	TupleDesc	desc = get_expr_result_tupdesc((Node *) fexpr, false);
	List	   *quals = extract_actual_clauses(clauses, false);
	List	   *scan_tlist;
	int			i;

	if (!topic_scan_columns(rel, best_path->path.pathtarget, quals, desc, &scan_tlist))
	{
		/* every column of topics.record, as Vars of the rel */
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			Var		   *var = makeVar(rel->relid, i + 1, att->atttypid, att->atttypmod,
									  att->attcollation, 0);

			scan_tlist = lappend(scan_tlist,
								 makeTargetEntry((Expr *) var, i + 1,
												 pstrdup(NameStr(att->attname)), false));
		}
	}

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = quals;
	cscan->scan.scanrelid = 0;	/* not a relation: rows come from the call */
	cscan->flags = best_path->flags;
	cscan->methods = &fetch_scan_methods;
	cscan->custom_scan_tlist = scan_tlist;
	/*
	 * The call in custom_exprs, so setrefs fixes its parameters (and, for
	 * LATERAL, createplan.c turns outer columns into nestloop parameters).
	 */
	cscan->custom_exprs = list_make1(copyObject(fexpr));
	cscan->custom_private = list_make2(lsecond(best_path->custom_private),
									   lthird(best_path->custom_private));
	return &cscan->scan.plan;
}

/* ------------------------------------------------------------------------
 * Execution
 * ------------------------------------------------------------------------
 */

static Node *
fetch_create_state(CustomScan *cscan)
{
	TopicFetchState *state = palloc0(sizeof(TopicFetchState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &fetch_exec_methods;
	return (Node *) state;
}

/* Collect the ids of the PARAM_EXEC parameters in an expression. */
static bool
pull_exec_params_walker(Node *node, Bitmapset **params)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		*params = bms_add_member(*params, ((Param *) node)->paramid);
	return expression_tree_walker(node, pull_exec_params_walker, params);
}

static void
pull_exec_params(Node *node, Bitmapset **params)
{
	(void) pull_exec_params_walker(node, params);
}

static void
fetch_begin(CustomScanState *node, EState *estate, int eflags)
{
	TopicFetchState *state = (TopicFetchState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	FuncExpr   *fexpr = linitial(cscan->custom_exprs);
	AclResult	aclresult;
	ListCell   *lc;
	int			i = 0;

	/* what the function scan's init_sexpr checks */
	aclresult = pg_proc_aclcheck(fexpr->funcid, GetUserId(), ACL_EXECUTE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(fexpr->funcid));
	InvokeFunctionExecuteHook(fexpr->funcid);

	foreach(lc, fexpr->args)
		state->argstates[i++] = ExecInitExpr(lfirst(lc), &node->ss.ps);
	topic_column_map_init(&state->colmap, cscan->custom_scan_tlist,
						  intVal(linitial(cscan->custom_private)));
	Assert(state->colmap.ncols == node->ss.ss_ScanTupleSlot->tts_tupleDescriptor->natts);
	state->reader = palloc0(sizeof(TopicReader));
	state->started = false;
	state->rel = NULL;
	state->snapshot = NULL;
	/*
	 * Rescanned with unchanged arguments (the inner side of a nested loop
	 * without parameters gets EXEC_FLAG_REWIND; a correlated subquery is
	 * rescanned whenever its outer row changes), the function scan gives its
	 * tuplestore again: keep the rows then, and stream otherwise.
	 */
	state->keep_rows = (eflags & EXEC_FLAG_REWIND) != 0 ||
		boolVal(lsecond(cscan->custom_private));
	state->funcparams = NULL;
	pull_exec_params((Node *) fexpr->args, &state->funcparams);
	state->store = NULL;
	if (state->keep_rows)
		state->store_slot = ExecAllocTableSlot(&estate->es_tupleTable,
											   node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
											   &TTSOpsMinimalTuple);
}

/* Begin a walk from the call's from_seq, with a new snapshot when waiting. */
static void
fetch_walk(TopicFetchState *state)
{
	Snapshot	snapshot = state->css.ss.ps.state->es_snapshot;

	if (state->waiting)
	{
		/* read the generation before looking, so no commit is missed */
		state->generation = topic_wait_generation(RelationGetRelid(state->rel));
		state->snapshot = RegisterSnapshot(GetLatestSnapshot());
		snapshot = state->snapshot;
	}
	topic_reader_begin(state->reader, state->rel, state->args.partition,
					   state->args.from_seq, -1, snapshot, TOPIC_READ_STABLE);
}

static void
fetch_walk_end(TopicFetchState *state)
{
	topic_reader_end(state->reader);
	if (state->snapshot)
		UnregisterSnapshot(state->snapshot);
	state->snapshot = NULL;
}

/* The call: evaluate and check the arguments, open the topic, start. */
static void
fetch_start(TopicFetchState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	Datum		values[TOPIC_FETCH_NARGS];
	bool		nulls[TOPIC_FETCH_NARGS];
	int			i;

	ResetExprContext(econtext);
	for (i = 0; i < TOPIC_FETCH_NARGS; i++)
		values[i] = ExecEvalExprSwitchContext(state->argstates[i], econtext, &nulls[i]);
	topic_fetch_check_args(values, nulls, &state->args);
	state->rel = topic_fetch_open(&state->args);

	state->started = true;
	state->done = false;
	state->count = 0;
	state->bytes = 0;
	state->waiting = state->args.wait_ms > 0 && topic_wait_possible();
	state->last_look = false;
	if (state->waiting)
		state->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  state->args.wait_ms);
	fetch_walk(state);
}

static TupleTableSlot *
fetch_stream(ScanState *ss)
{
	TopicFetchState *state = (TopicFetchState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	if (!state->started)
		fetch_start(state);
	while (!state->done)
	{
		Page		page;
		OffsetNumber off;

		if (state->count >= state->args.max_records)
			break;
		if (!topic_reader_next(state->reader, &page, &off))
		{
			fetch_walk_end(state);

			/*
			 * Nothing yet: the long poll waits for a commit and looks again,
			 * and at the deadline looks one last time.
			 */
			if (state->count == 0 && state->waiting && !state->last_look)
			{
				if (!topic_wait_for_commit(RelationGetRelid(state->rel),
										   state->generation, state->deadline))
					state->last_look = true;
				fetch_walk(state);
				continue;
			}
			break;
		}

		if (state->args.max_bytes >= 0)
		{
			TopicRecord rec;
			Size		sz;

			topic_record_decode(page, off, &rec);
			sz = topic_record_payload_size(&rec);
			/* the first record always comes, so a consumer moves on */
			if (state->count > 0 && state->bytes + (int64) sz > state->args.max_bytes)
				break;
			state->bytes += sz;
		}
		state->count++;

		/* the columns up to the last one the query uses, no further */
		ExecClearTuple(slot);
		topic_column_map_deform(&state->colmap, page, off, slot->tts_values, slot->tts_isnull);
		return ExecStoreVirtualTuple(slot);
	}
	state->done = true;
	return ExecClearTuple(slot);
}

/*
 * The scan's access method.  A node that may be rescanned with the same
 * arguments keeps the call's rows, as the function scan does, so that a
 * rescan returns the same rows instead of calling again, which could see
 * newer commits or, with a wait, wait again.  Such a node reads the whole
 * call at its first row, like the function; every other one streams.
 */
static TupleTableSlot *
fetch_next(ScanState *ss)
{
	TopicFetchState *state = (TopicFetchState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	if (!state->keep_rows)
		return fetch_stream(ss);
	if (state->store == NULL)
	{
		state->store = tuplestore_begin_heap(false, false, work_mem);
		for (;;)
		{
			TupleTableSlot *row = fetch_stream(ss);

			if (TupIsNull(row))
				break;
			tuplestore_puttupleslot(state->store, row);
		}
	}
	if (!tuplestore_gettupleslot(state->store, true, false, state->store_slot))
		return ExecClearTuple(slot);
	ExecCopySlot(slot, state->store_slot);
	return slot;
}

static bool
fetch_recheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

/*
 * ExecScan without its EvalPlanQual branch.  During a recheck, ExecScan
 * takes a scan with no relation (scanrelid 0) for a join pushed down into
 * it and returns the tuple its recheck stored; this scan has no such tuple
 * (it reads no row-marked relation), so it runs as usual, as the function
 * scan does (in a correlated subquery of an UPDATE, say).
 */
static TupleTableSlot *
fetch_exec_in_recheck(CustomScanState *node)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ExprState  *qual = node->ss.ps.qual;
	ProjectionInfo *proj = node->ss.ps.ps_ProjInfo;

	for (;;)
	{
		TupleTableSlot *slot;

		CHECK_FOR_INTERRUPTS();
		ResetExprContext(econtext);
		slot = fetch_next(&node->ss);
		if (TupIsNull(slot))
			return proj ? ExecClearTuple(proj->pi_state.resultslot) : slot;
		econtext->ecxt_scantuple = slot;
		if (qual == NULL || ExecQual(qual, econtext))
			return proj ? ExecProject(proj) : slot;
		InstrCountFiltered1(node, 1);
	}
}

static TupleTableSlot *
fetch_exec(CustomScanState *node)
{
	if (node->ss.ps.state->es_epq_active != NULL)
		return fetch_exec_in_recheck(node);

	/*
	 * Nothing to filter or project, as for fetch() in a FROM list: hand the
	 * rows out as they come.  ExecScan would do the same after resetting the
	 * per-row expression context, which only its quals and projections use
	 * (fetch_next allocates nothing per row; the columns point into the
	 * pinned page).
	 */
	if (node->ss.ps.qual == NULL && node->ss.ps.ps_ProjInfo == NULL)
		return fetch_next(&node->ss);
	return ExecScan(&node->ss, fetch_next, fetch_recheck);
}

/* End the call: release the page and the snapshot, close the topic. */
static void
fetch_finish(TopicFetchState *state)
{
	if (state->started)
		fetch_walk_end(state);
	if (state->rel)
		table_close(state->rel, NoLock);
	state->rel = NULL;
	state->started = false;
}

static void
fetch_forget_rows(TopicFetchState *state)
{
	if (state->store)
		tuplestore_end(state->store);
	state->store = NULL;
}

static void
fetch_end(CustomScanState *node)
{
	fetch_finish((TopicFetchState *) node);
	fetch_forget_rows((TopicFetchState *) node);
}

static void
fetch_rescan(CustomScanState *node)
{
	TopicFetchState *state = (TopicFetchState *) node;

	ExecScanReScan(&node->ss);
	if (state->store && !bms_overlap(node->ss.ps.chgParam, state->funcparams))
	{
		/* same arguments: the same rows, as the function scan gives */
		tuplestore_rescan(state->store);
		return;
	}
	/* a new call, with the new arguments */
	fetch_finish(state);
	fetch_forget_rows(state);
}

static void
fetch_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *context = set_deparse_context_plan(es->deparse_cxt,
												   (Plan *) cscan, ancestors);

	ExplainPropertyText("Function Call",
						deparse_expression(linitial(cscan->custom_exprs), context,
										   false, false),
						es);
}

void
topic_fetchscan_init(void)
{
	RegisterCustomScanMethods(&fetch_scan_methods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = fetch_set_rel_pathlist;
}
