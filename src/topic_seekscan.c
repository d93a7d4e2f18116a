/*-------------------------------------------------------------------------
 *
 * topic_seekscan.c
 *	  TopicSeek: a custom scan that answers
 *		  WHERE partition = p AND seq >= a [AND seq <= b] [AND ts >= t]
 *	  by seeking, instead of reading the whole topic.
 *
 * The planner hook offers the path for a topic whose quals fix the
 * partition (partition = constant or parameter).  Bounds on seq (=, >, >=,
 * <, <=, BETWEEN) and a lower bound on ts become the start and end of a walk
 * of that partition: a directory seek to the start (for ts, through the time
 * index: topics.seq_at_time), then the page chain in seq order, stopping
 * past the upper bound.  The output is ordered by seq, so
 * ORDER BY seq LIMIT n needs no sort and stops after n records; the cost
 * grows with the records returned, not with the size of the topic.
 *
 * The bounds may also come from join clauses ("t.partition = o.partition
 * AND t.seq > o.seq"), as an index scan's do: the hook then offers paths
 * parameterized by the other rels, for the inner side of a nested loop,
 * which seeks once per outer row with the outer row's values (nestloop
 * parameters; a rescan starts a new walk).  Without them such a join read
 * the whole topic, into a hash or for every outer row.
 *
 * The same hook tells the planner the order of a topic's sequential scan
 * (add_ordered_scan_paths), which is the order a replay asks for.
 *
 * Visibility is plain MVCC, as for a sequential scan: a SELECT shows what
 * its snapshot sees (the stable-offset rule belongs to fetch and the
 * consumers).  The walk returns exactly the rows of the partition between
 * the seq bounds, so, as a btree scan does with its index quals, the scan
 * does not recheck the clauses they came from (only operators of the
 * type's own btree family become bounds, so their meaning is known) but in
 * an EvalPlanQual recheck; every other qual, a ts bound included, is
 * checked on each row.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include <math.h>

#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/typcache.h"

/* records per data page assumed for costing when the size is unknown */
#define SEEK_RECORDS_PER_PAGE	60
/* directory levels above a data page assumed for costing */
#define SEEK_DIRECTORY_LEVELS	3

/* indexes into custom_exprs; a NULL entry is an absent bound */
#define SEEK_PARTITION	0
#define SEEK_LOWER		1		/* seq >= (custom_private flag: strict) */
#define SEEK_UPPER		2		/* seq <= (flag: strict) */
#define SEEK_TS_LOWER	3		/* ts >= (flag: strict) */
#define SEEK_NEXPRS		4

/* custom_private: the bounds' strict flags, then these */
#define SEEK_FLAG_BACKWARD			SEEK_NEXPRS
#define SEEK_FLAG_ONLY_PARTITION	(SEEK_NEXPRS + 1)

typedef struct SeekBounds
{
	Expr	   *exprs[SEEK_NEXPRS];
	bool		strict[SEEK_NEXPRS];
	RestrictInfo *clauses[SEEK_NEXPRS]; /* where each bound came from */
	List	   *partial;		/* equalities that are only one of the bounds */
	bool		only_partition; /* partition 0 of a topic of one, no qual */
} SeekBounds;

typedef struct TopicSeekState
{
	CustomScanState css;
	ExprState  *exprstates[SEEK_NEXPRS];
	bool		strict[SEEK_NEXPRS];
	bool		started;
	bool		done;
	TopicReader *reader;		/* the walk, in MVCC mode */
	bool		backward;		/* ORDER BY seq DESC */
	bool		only_partition; /* planned for a topic of one partition */
	bool		narrow;			/* the row holds only the columns used */
	TopicColumnMap colmap;		/* which, when narrow */
	ExprState  *recheck;		/* the bounds' clauses, for EvalPlanQual */
} TopicSeekState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static void add_seek_path(PlannerInfo *root, RelOptInfo *rel, SeekBounds *bounds,
						  ParamPathInfo *ppi, bool backward);

static Plan *seek_plan_path(PlannerInfo *root, RelOptInfo *rel,
							struct CustomPath *best_path, List *tlist,
							List *clauses, List *custom_plans);
static Node *seek_create_state(CustomScan *cscan);
static void seek_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *seek_exec(CustomScanState *node);
static void seek_end(CustomScanState *node);
static void seek_rescan(CustomScanState *node);
static void seek_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomPathMethods seek_path_methods = {
	.CustomName = "TopicSeek",
	.PlanCustomPath = seek_plan_path,
};

static const CustomScanMethods seek_scan_methods = {
	.CustomName = "TopicSeek",
	.CreateCustomScanState = seek_create_state,
};

static const CustomExecMethods seek_exec_methods = {
	.CustomName = "TopicSeek",
	.BeginCustomScan = seek_begin,
	.ExecCustomScan = seek_exec,
	.EndCustomScan = seek_end,
	.ReScanCustomScan = seek_rescan,
	.ExplainCustomScan = seek_explain,
};

/* ------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------
 */

/*
 * If clause is "column op value" (either way round) on this rel, with value
 * free of this rel's columns and of volatile functions (other rels' columns,
 * in a join clause, become nestloop parameters), and op an operator
 * of the btree family that orders the column's type (integer_ops for
 * partition and seq, datetime_ops for ts), return the column number, the
 * btree strategy as if the column were on the left, and value.  Operators
 * of other families may order differently, so they are not bounds.
 */
static AttrNumber
match_clause(PlannerInfo *root, RelOptInfo *rel, Expr *clause, int *strategy,
			 Expr **value)
{
	OpExpr	   *op;
	Node	   *left;
	Node	   *right;
	Var		   *var;
	bool		var_on_left;
	Oid			family;
	List	   *interps;
	ListCell   *lc;

	if (!IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return InvalidAttrNumber;
	op = (OpExpr *) clause;
	left = strip_implicit_coercions(linitial(op->args));
	right = strip_implicit_coercions(lsecond(op->args));

	if (IsA(left, Var) && ((Var *) left)->varno == rel->relid)
	{
		var = (Var *) left;
		var_on_left = true;
		*value = (Expr *) lsecond(op->args);
	}
	else if (IsA(right, Var) && ((Var *) right)->varno == rel->relid)
	{
		var = (Var *) right;
		var_on_left = false;
		*value = (Expr *) linitial(op->args);
	}
	else
		return InvalidAttrNumber;

	if (bms_is_member(rel->relid, pull_varnos(root, (Node *) *value)) ||
		contain_volatile_functions((Node *) *value))
		return InvalidAttrNumber;

	family = lookup_type_cache(var->vartype, TYPECACHE_BTREE_OPFAMILY)->btree_opf;
	if (!OidIsValid(family))
		return InvalidAttrNumber;
	interps = get_op_btree_interpretation(op->opno);
	foreach(lc, interps)
	{
		OpBtreeInterpretation *bi = lfirst(lc);
		int			s = bi->strategy;

		if (bi->opfamily_id != family ||
			s < BTLessStrategyNumber || s > BTGreaterStrategyNumber)
			continue;
		if (!var_on_left)
			s = BTCommuteStrategyNumber(s);
		*strategy = s;
		return var->varattno;
	}
	return InvalidAttrNumber;
}

static bool
set_bound(SeekBounds *b, int which, RestrictInfo *ri, Expr *value, bool strict)
{
	/* the first bound found wins; the rest are rechecked as quals */
	if (b->exprs[which] == NULL)
	{
		b->exprs[which] = value;
		b->strict[which] = strict;
		b->clauses[which] = ri;
		return true;
	}
	return false;
}

/*
 * The bounds the clauses give (the rel's own, and for a parameterized path
 * the join clauses the path enforces); false if none fixes the partition.
 */
static bool
find_bounds(PlannerInfo *root, RelOptInfo *rel, List *clauses, SeekBounds *b)
{
	ListCell   *lc;

	memset(b, 0, sizeof(SeekBounds));
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		int			strategy;
		Expr	   *value;
		AttrNumber	att = match_clause(root, rel, ri->clause, &strategy, &value);
		Oid			vtype;

		if (att == InvalidAttrNumber)
			continue;
		vtype = exprType((Node *) value);
		if (att == Anum_topic_partition &&
			strategy == BTEqualStrategyNumber &&
			(vtype == INT2OID || vtype == INT4OID || vtype == INT8OID))
			set_bound(b, SEEK_PARTITION, ri, value, false);
		else if (att == Anum_topic_seq &&
				 (vtype == INT2OID || vtype == INT4OID || vtype == INT8OID))
		{
			if (strategy == BTEqualStrategyNumber)
			{
				bool		lower = set_bound(b, SEEK_LOWER, ri, value, false);
				bool		upper = set_bound(b, SEEK_UPPER, ri, value, false);

				/*
				 * "seq = v" is exact only as both bounds: beside an earlier
				 * "seq >= w" it is the upper one alone, and the walk from w
				 * returns more than v (until 0.9 it was not rechecked).
				 */
				if (lower != upper)
					b->partial = lappend(b->partial, ri);
			}
			else if (strategy == BTGreaterEqualStrategyNumber ||
					 strategy == BTGreaterStrategyNumber)
				set_bound(b, SEEK_LOWER, ri, value, strategy == BTGreaterStrategyNumber);
			else
				set_bound(b, SEEK_UPPER, ri, value, strategy == BTLessStrategyNumber);
		}
		else if (att == Anum_topic_ts && vtype == TIMESTAMPTZOID &&
				 (strategy == BTGreaterEqualStrategyNumber ||
				  strategy == BTGreaterStrategyNumber ||
				  strategy == BTEqualStrategyNumber))
			set_bound(b, SEEK_TS_LOWER, ri, value, strategy == BTGreaterStrategyNumber);
	}
	return b->exprs[SEEK_PARTITION] != NULL;
}

/* For generate_implied_equalities_for_column: is em this rel's column *arg? */
static bool
ec_member_is_column(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					EquivalenceMember *em, void *arg)
{
	Node	   *expr = strip_implicit_coercions((Node *) em->em_expr);

	return IsA(expr, Var) && ((Var *) expr)->varno == rel->relid &&
		((Var *) expr)->varlevelsup == 0 &&
		((Var *) expr)->varattno == *(AttrNumber *) arg;
}

/*
 * The sets of other rels a seek could be parameterized by: those of each
 * join clause that could be a bound (from the rel's join clauses, and the
 * equalities its equivalence classes imply for partition and seq, which are
 * not join clauses until a join is planned), and all of them together, so
 * that a partition from one rel and a seq from another make one seek.  As
 * for index scans, rels that reference this one laterally cannot be outer.
 */
static List *
seek_outer_rels(PlannerInfo *root, RelOptInfo *rel)
{
	static const AttrNumber ec_columns[] = {Anum_topic_partition, Anum_topic_seq};
	List	   *clauses = list_copy(rel->joininfo);
	List	   *outers = NIL;
	Relids		all = NULL;
	ListCell   *lc;
	int			i;

	for (i = 0; i < lengthof(ec_columns); i++)
		clauses = list_concat(clauses,
							  generate_implied_equalities_for_column(root, rel,
																	 ec_member_is_column,
																	 (void *) &ec_columns[i],
																	 rel->lateral_referencers));
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		int			strategy;
		Expr	   *value;
		Relids		outer;
		ListCell   *lo;
		bool		known = false;

		if (match_clause(root, rel, ri->clause, &strategy, &value) == InvalidAttrNumber)
			continue;
		outer = bms_difference(ri->clause_relids, rel->relids);
		if (bms_is_empty(outer) || bms_overlap(outer, rel->lateral_referencers))
			continue;
		foreach(lo, outers)
			known |= bms_equal(outer, (Relids) lfirst(lo));
		if (!known)
			outers = lappend(outers, outer);
		all = bms_add_members(all, outer);
	}
	if (list_length(outers) > 1)
	{
		foreach(lc, outers)
			if (bms_equal(all, (Relids) lfirst(lc)))
				return outers;
		outers = lappend(outers, all);
	}
	return outers;
}

/*
 * Partition 0, for a seek of a topic of one partition whose query names
 * none (ORDER BY seq, or WHERE seq >= x): the seek checks when it starts
 * that the topic still has one partition (see add_ordered_scan_paths).
 */
static void
imply_only_partition(SeekBounds *b)
{
	b->exprs[SEEK_PARTITION] = (Expr *) makeConst(INT4OID, -1, InvalidOid, sizeof(int32),
												  Int32GetDatum(0), false, true);
	b->only_partition = true;
}

/* Has b a bound on seq or ts? */
static bool
bounds_seq_or_ts(SeekBounds *b)
{
	return b->exprs[SEEK_LOWER] != NULL || b->exprs[SEEK_UPPER] != NULL ||
		b->exprs[SEEK_TS_LOWER] != NULL;
}

/*
 * The bounds of a seek the clauses allow: find_bounds', and on a topic of
 * one partition seq or ts bounds alone, with that partition implied (since
 * 0.14: "WHERE seq >= x ORDER BY seq LIMIT n" sorted the whole topic).
 */
static bool
find_seek_bounds(PlannerInfo *root, RelOptInfo *rel, List *clauses, int npartitions,
				 SeekBounds *b)
{
	if (find_bounds(root, rel, clauses, b))
		return true;
	if (npartitions != 1 || !bounds_seq_or_ts(b))
		return false;
	imply_only_partition(b);
	return true;
}

/* TopicSeek paths with the given bounds, forward and backward */
static void
add_seek_paths(PlannerInfo *root, RelOptInfo *rel, SeekBounds *bounds, ParamPathInfo *ppi)
{
	add_seek_path(root, rel, bounds, ppi, false);
	add_seek_path(root, rel, bounds, ppi, true);
}

/*
 * A serial sequential scan of a topic returns partition 0's records in seq
 * order, then partition 1's, and so on (topicam_scan_getnextslot follows
 * each partition's page chain; a parallel scan shares blocks out and keeps
 * no order).  Offer it with that order, (partition, seq), so that a replay
 * in order (ORDER BY partition, seq, a window PARTITION BY partition ORDER
 * BY seq, a merge join on both) needs no sort of the whole topic and a
 * LIMIT stops the scan early.
 *
 * On a topic of one partition that order is seq's alone, in either
 * direction, but not as a sequential scan: a SQL function plans all its
 * statements before it runs any, so one that truncates a topic, adds a
 * partition (which such a topic gets at once, not at commit) and then reads
 * it would run a plan that had assumed one partition, and return partition
 * 1's records after partition 0's in silence.  A TopicSeek of partition 0
 * checks that the topic still has one partition when it starts (see
 * seek_start), and walks backward for ORDER BY seq DESC (the latest
 * records).  Everywhere else, adding partitions takes AccessExclusiveLock
 * and invalidates the relcache, so such a plan is made again first.
 */
static void
add_ordered_scan_paths(PlannerInfo *root, RelOptInfo *rel, int npartitions)
{
	Var		   *partvar = makeVar(rel->relid, Anum_topic_partition, INT4OID, -1,
								  InvalidOid, 0);
	Var		   *seqvar = makeVar(rel->relid, Anum_topic_seq, INT8OID, -1, InvalidOid, 0);
	List	   *partkey;
	List	   *seqkey;

	/* only orders the query could use (no new equivalence classes) */
	partkey = build_expression_pathkey(root, (Expr *) partvar, NULL, Int4LessOperator,
									   rel->relids, false);
	seqkey = build_expression_pathkey(root, (Expr *) seqvar, NULL, Int8LessOperator,
									  rel->relids, false);
	if (partkey != NIL)
	{
		Path	   *path = create_seqscan_path(root, rel, rel->lateral_relids, 0);

		path->pathkeys = list_concat_copy(partkey, seqkey);
		add_path(rel, path);
	}
	/* (a forward seek is offered without pathkeys too: only for seq order) */
	if (npartitions == 1 && seqkey != NIL)
	{
		SeekBounds	bounds;
		ParamPathInfo *ppi = get_baserel_parampathinfo(root, rel, rel->lateral_relids);

		memset(&bounds, 0, sizeof(bounds));
		imply_only_partition(&bounds);
		add_seek_paths(root, rel, &bounds, ppi);
	}
}

static void
topic_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
					   RangeTblEntry *rte)
{
	Relation	relation;
	bool		is_topic;
	int			npartitions = 0;
	SeekBounds	bounds;
	ListCell   *lc;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	/* a base rel, or a branch of a UNION ALL pulled up into an append rel */
	if ((rel->reloptkind != RELOPT_BASEREL &&
		 rel->reloptkind != RELOPT_OTHER_MEMBER_REL) ||
		rte->rtekind != RTE_RELATION ||
		rte->relkind != RELKIND_RELATION || rte->inh)
		return;
	/* a sample is drawn by the sample scan alone (until 0.10 a seek won) */
	if (rte->tablesample != NULL)
		return;
	relation = RelationIdGetRelation(rte->relid);
	is_topic = RelationIsValid(relation) && topic_relation_is_topic(relation);
	if (is_topic)
		npartitions = topic_get_cache(relation)->npartitions;
	if (RelationIsValid(relation))
		RelationClose(relation);
	if (!is_topic)
		return;

	/* bounds from the rel's own quals (parameterized only by lateral refs) */
	if (find_seek_bounds(root, rel, rel->baserestrictinfo, npartitions, &bounds))
		add_seek_paths(root, rel, &bounds,
					   get_baserel_parampathinfo(root, rel, rel->lateral_relids));

	/*
	 * The ordered sequential scan, unless a qual bounds partition, seq or
	 * ts: the planner costs "ORDER BY seq LIMIT n" over a filtered scan as
	 * if the matching rows were spread evenly through the topic, while
	 * "seq >= x" matches its end; it then chose that scan over a seek and
	 * read the whole partition (such queries are TopicSeek's, or sorted as
	 * before).
	 */
	if (bounds.exprs[SEEK_PARTITION] == NULL && !bounds_seq_or_ts(&bounds))
		add_ordered_scan_paths(root, rel, npartitions);

	/* and with join clauses, for the inner side of a nested loop */
	foreach(lc, seek_outer_rels(root, rel))
	{
		Relids		required = bms_union((Relids) lfirst(lc), rel->lateral_relids);
		ParamPathInfo *ppi = get_baserel_parampathinfo(root, rel, required);
		bool		uses_join = false;
		int			i;

		if (ppi == NULL ||
			!find_seek_bounds(root, rel,
							  list_concat_copy(rel->baserestrictinfo, ppi->ppi_clauses),
							  npartitions, &bounds))
			continue;
		/* a seek whose bounds are all the rel's own is offered above */
		for (i = 0; i < SEEK_NEXPRS; i++)
			uses_join |= list_member_ptr(ppi->ppi_clauses, bounds.clauses[i]);
		if (uses_join)
			add_seek_paths(root, rel, &bounds, ppi);
	}
}

/*
 * A TopicSeek path with the given bounds, its rows in seq order, or in
 * descending seq order (backward) for ORDER BY seq DESC; parameterized by
 * ppi's rels when it is not NULL, and then costed for one outer row.
 */
static void
add_seek_path(PlannerInfo *root, RelOptInfo *rel, SeekBounds *bounds,
			  ParamPathInfo *ppi, bool backward)
{
	CustomPath *cpath;
	double		rows;
	double		pages;
	Cost		qual_startup = rel->baserestrictcost.startup;
	Cost		qual_per_tuple = rel->baserestrictcost.per_tuple;
	Cost		directory_io = 0;
	Var		   *seqvar;
	int			i;

	cpath = makeNode(CustomPath);
	cpath->path.pathtype = T_CustomScan;
	cpath->path.parent = rel;
	cpath->path.pathtarget = rel->reltarget;
	cpath->path.param_info = ppi;
	cpath->path.parallel_aware = false;
	cpath->path.parallel_safe = rel->consider_parallel;
	cpath->path.rows = ppi ? ppi->ppi_rows : rel->rows;
	cpath->flags = CUSTOMPATH_SUPPORT_PROJECTION;	/* ExecScan projects */
	cpath->methods = &seek_path_methods;

	/*
	 * The seek descends the partition's directory, a few pages that are
	 * nearly always cached: charged like a btree descent (50 operators per
	 * level, as btcostestimate does) at startup, its page reads in the total,
	 * then the pages holding the rows.  A startup cost of whole page reads
	 * would let a sequential scan win "WHERE seq >= x LIMIT n", because the
	 * planner assumes matching rows are spread evenly through the table,
	 * while in a topic they all sit at one end.
	 *
	 * A parameterized seek runs once per outer row of a nested loop, and
	 * the directory pages the first seek read are in shared buffers for the
	 * next, as an index's upper pages are for an inner index scan: it is
	 * charged the descent's CPU and the data pages, at least one.  Charged
	 * three random page reads per outer row, it lost to reading the whole
	 * partition once into a Materialize node for a join of 150 rows.
	 */
	rows = Max(cpath->path.rows, 1.0);
	/*
	 * The pages: by the topic's own records a page where the planner knows
	 * its size (a topic of 1.3 kB records has 6, and costed at 60 a seek
	 * looked ten times cheaper than the pages it reads).
	 */
	if (rel->pages > 0 && rel->tuples > 0)
		pages = ceil(rows / Max(rel->tuples / rel->pages, 1.0));
	else
		pages = ceil(rows / SEEK_RECORDS_PER_PAGE);
	if (ppi != NULL)
	{
		QualCost	join_cost;

		cost_qual_eval(&join_cost, ppi->ppi_clauses, root);
		qual_startup += join_cost.startup;
		qual_per_tuple += join_cost.per_tuple;
	}
	else
		directory_io = SEEK_DIRECTORY_LEVELS * random_page_cost;
	cpath->path.startup_cost = qual_startup +
		SEEK_DIRECTORY_LEVELS * 50.0 * cpu_operator_cost;
	cpath->path.total_cost = cpath->path.startup_cost +
		directory_io + pages * seq_page_cost +
		rows * (cpu_tuple_cost + qual_per_tuple);

	/* rows come out in seq order, or in descending seq order */
	seqvar = makeVar(rel->relid, Anum_topic_seq, INT8OID, -1, InvalidOid, 0);
	cpath->path.pathkeys =
		build_expression_pathkey(root, (Expr *) seqvar, NULL,
								 backward ?
								 get_opfamily_member(INTEGER_BTREE_FAM_OID, INT8OID, INT8OID,
													 BTGreaterStrategyNumber) :
								 Int8LessOperator,
								 rel->relids, false);
	if (backward && cpath->path.pathkeys == NIL)
		return;					/* no query order it could serve */

	{
		List	   *exprs = NIL;
		List	   *flags = NIL;
		List	   *exact = NIL;

		for (i = 0; i < SEEK_NEXPRS; i++)
		{
			exprs = lappend(exprs, bounds->exprs[i]);
			flags = lappend_int(flags, bounds->strict[i]);
		}
		flags = lappend_int(flags, backward);	/* SEEK_FLAG_BACKWARD */
		flags = lappend_int(flags, bounds->only_partition); /* SEEK_FLAG_ONLY_PARTITION */

		/*
		 * The walk returns exactly the rows of the partition between the
		 * seq bounds, so their clauses need no recheck, as a btree scan
		 * does not recheck its index quals.  A ts bound only tells where to
		 * start (timestamps need not rise with seq): it stays a qual.
		 */
		for (i = 0; i < SEEK_NEXPRS; i++)
			if (i != SEEK_TS_LOWER && bounds->clauses[i] &&
				!list_member_ptr(bounds->partial, bounds->clauses[i]))
				exact = list_append_unique_ptr(exact, bounds->clauses[i]);
		cpath->custom_private = list_make3(exprs, flags, exact);
	}
	add_path(rel, &cpath->path);
}

/*
 * May this scan's row hold only the columns the query uses?  Not where an
 * EvalPlanQual recheck could run it (an UPDATE, DELETE or MERGE at this
 * level or one above, FOR UPDATE/SHARE, a data-modifying WITH): a recheck
 * hands the scan a row of the topic's own type, fetched by its ctid, which
 * a narrowed row would not match.  The row mark that makes such a fetch
 * possible also puts the ctid (or the whole row) in the rel's target, which
 * topic_scan_columns refuses; this check does not rely on that.
 */
static bool
seek_may_narrow(PlannerInfo *root)
{
	for (; root != NULL; root = root->parent_root)
		if (root->parse->commandType != CMD_SELECT || root->parse->rowMarks != NIL ||
			root->parse->hasModifyingCTE)
			return false;
	return true;
}

static Plan *
seek_plan_path(PlannerInfo *root, RelOptInfo *rel, struct CustomPath *best_path,
			   List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	List	   *scan_tlist;

	cscan->scan.plan.targetlist = tlist;
	/* every qual but the exact bounds' is checked on each row */
	cscan->scan.plan.qual =
		extract_actual_clauses(list_difference_ptr(clauses,
												   lthird(best_path->custom_private)),
							   false);
	cscan->scan.scanrelid = rel->relid;
	cscan->flags = best_path->flags;
	cscan->methods = &seek_scan_methods;

	/* bounds in custom_exprs (so setrefs fixes them up), flags beside them */
	cscan->custom_exprs = (List *) linitial(best_path->custom_private);
	cscan->custom_private = (List *) lsecond(best_path->custom_private);

	/* the row: the columns used (topic_scancolumns.c), where it is safe */
	if (seek_may_narrow(root) &&
		!bms_is_member(rel->relid, pull_varnos(root, (Node *) cscan->custom_exprs)))
	{
		Relation	relation = table_open(planner_rt_fetch(rel->relid, root)->relid, NoLock);

		if (topic_scan_columns(rel, best_path->path.pathtarget, cscan->scan.plan.qual,
							   RelationGetDescr(relation), &scan_tlist))
			cscan->custom_scan_tlist = scan_tlist;
		table_close(relation, NoLock);
	}

	/*
	 * Where an EvalPlanQual recheck could run (the row is whole then), the
	 * exact bounds' clauses follow the bounds in custom_exprs, for
	 * seek_recheck: a recheck after a concurrent update of the outer row
	 * hands the scan the record it found before, which must still meet the
	 * join clauses with the outer row's new values, as an index scan's
	 * record must meet its index conditions (IndexRecheck).  Constant
	 * bounds would pass; join clauses need not.
	 */
	if (cscan->custom_scan_tlist == NIL)
		cscan->custom_exprs =
			list_concat_copy(cscan->custom_exprs,
							 extract_actual_clauses(lthird(best_path->custom_private), false));
	return &cscan->scan.plan;
}

/* ------------------------------------------------------------------------
 * Execution
 * ------------------------------------------------------------------------
 */

static Node *
seek_create_state(CustomScan *cscan)
{
	TopicSeekState *state = palloc0(sizeof(TopicSeekState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &seek_exec_methods;
	return (Node *) state;
}

static void
seek_begin(CustomScanState *node, EState *estate, int eflags)
{
	TopicSeekState *state = (TopicSeekState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	int			i;

	for (i = 0; i < SEEK_NEXPRS; i++)
	{
		Expr	   *e = list_nth(cscan->custom_exprs, i);

		state->exprstates[i] = e ? ExecInitExpr(e, &node->ss.ps) : NULL;
		state->strict[i] = list_nth_int(cscan->custom_private, i) != 0;
	}
	/* the exact bounds' clauses, for an EvalPlanQual recheck, if any */
	state->recheck = ExecInitQual(list_copy_tail(cscan->custom_exprs, SEEK_NEXPRS),
								  &node->ss.ps);
	state->backward = list_nth_int(cscan->custom_private, SEEK_FLAG_BACKWARD) != 0;
	state->only_partition = list_nth_int(cscan->custom_private, SEEK_FLAG_ONLY_PARTITION) != 0;
	state->narrow = cscan->custom_scan_tlist != NIL;
	if (state->narrow)
		topic_column_map_init(&state->colmap, cscan->custom_scan_tlist, -1);
	else
	{
		/*
		 * A whole row goes in the topic's own kind of slot, which answers
		 * the system columns xmin and cmin as a plain scan's does (a
		 * custom scan's slot is virtual); filled in whole, as the
		 * projection was built for a virtual one.
		 */
		Relation	rel = node->ss.ss_currentRelation;

		node->ss.ss_ScanTupleSlot = ExecAllocTableSlot(&estate->es_tupleTable,
													   RelationGetDescr(rel),
													   table_slot_callbacks(rel));
	}
	state->reader = palloc0(sizeof(TopicReader));	/* no page pinned */
	state->started = false;
}

static int64
eval_int(TopicSeekState *state, int which, bool *isnull)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	Datum		d = ExecEvalExprSwitchContext(state->exprstates[which], econtext, isnull);
	Oid			type = exprType((Node *) state->exprstates[which]->expr);

	if (*isnull)
		return 0;
	if (type == INT2OID)
		return DatumGetInt16(d);
	if (type == INT4OID)
		return DatumGetInt32(d);
	return DatumGetInt64(d);
}

/* Work out where to start and stop, from the (possibly parameter) bounds. */
static void
seek_start(TopicSeekState *state)
{
	Relation	rel = state->css.ss.ss_currentRelation;
	bool		isnull;
	int64		p;
	int64		from = 0;
	int64		to = -1;
	int32		partition;

	state->started = true;
	state->done = true;			/* until the bounds say there can be rows */

	p = eval_int(state, SEEK_PARTITION, &isnull);
	if (state->only_partition && topic_get_cache(rel)->npartitions != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("topic \"%s\" has gained partitions since this query was planned",
						RelationGetRelationName(rel)),
				 errdetail("The plan reads the topic as one partition in seq order; it now has %d.",
						   topic_get_cache(rel)->npartitions),
				 errhint("Run the query again.  A SQL function plans all its statements before it runs them: one that adds partitions to a topic and then reads it needs PL/pgSQL, or ORDER BY partition, seq.")));
	if (isnull || p < 0 || p >= topic_get_cache(rel)->npartitions)
		return;					/* no such partition: no rows */
	partition = (int32) p;

	if (state->exprstates[SEEK_LOWER])
	{
		int64		v = eval_int(state, SEEK_LOWER, &isnull);

		if (isnull)
			return;
		if (state->strict[SEEK_LOWER])
		{
			if (v == PG_INT64_MAX)
				return;			/* seq > maximum: nothing */
			v++;
		}
		from = Max(v, 0);
	}
	if (state->exprstates[SEEK_UPPER])
	{
		int64		v = eval_int(state, SEEK_UPPER, &isnull);

		if (isnull)
			return;
		if (state->strict[SEEK_UPPER])
		{
			if (v == PG_INT64_MIN)
				return;			/* seq < minimum: nothing */
			v--;
		}
		if (v < from)
			return;
		to = v;
	}
	if (state->exprstates[SEEK_TS_LOWER])
	{
		ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
		Datum		d = ExecEvalExprSwitchContext(state->exprstates[SEEK_TS_LOWER],
												  econtext, &isnull);
		int64		at;

		if (isnull)
			return;
		at = topic_seq_at_time(rel, partition, DatumGetTimestampTz(d));
		from = Max(from, at);
	}

	if (state->backward)
	{
		TopicPartitionState pstate;

		/* from the upper bound, or the last record, down to "from" */
		if (to < 0)
			to = topic_partition_next_seq(rel, partition, &pstate) - 1;
		topic_reader_begin_backward(state->reader, rel, partition, from, to,
									state->css.ss.ps.state->es_snapshot);
		state->done = false;
		return;
	}

	/* plain MVCC, from the log start if retention removed "from" */
	topic_reader_begin(state->reader, rel, partition, from, to,
					   state->css.ss.ps.state->es_snapshot, TOPIC_READ_MVCC);
	state->done = false;
}

static TupleTableSlot *
seek_next(ScanState *ss)
{
	TopicSeekState *state = (TopicSeekState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	Page		page;
	OffsetNumber off;

	if (!state->started)
		seek_start(state);
	if (state->done || !topic_reader_next(state->reader, &page, &off))
	{
		state->done = true;
		return ExecClearTuple(slot);
	}
	if (state->narrow)
	{
		/* the columns the query uses, in its order */
		ExecClearTuple(slot);
		topic_column_map_deform(&state->colmap, page, off, slot->tts_values, slot->tts_isnull);
		ExecStoreVirtualTuple(slot);
	}
	else
	{
		TopicRecord rec;

		topic_record_decode(page, off, &rec);
		topic_store_record_in_slot(slot, &rec);
	}
	slot->tts_tableOid = RelationGetRelid(ss->ss_currentRelation);
	ItemPointerSet(&slot->tts_tid, BufferGetBlockNumber(state->reader->buf), off);
	return slot;
}

/*
 * An EvalPlanQual recheck of the record the scan returned before: it must
 * still meet the exact bounds' clauses (see seek_plan_path); the other quals
 * are ExecScan's to check.
 */
static bool
seek_recheck(ScanState *ss, TupleTableSlot *slot)
{
	TopicSeekState *state = (TopicSeekState *) ss;
	ExprContext *econtext = ss->ps.ps_ExprContext;

	if (state->recheck == NULL)
		return true;
	econtext->ecxt_scantuple = slot;
	return ExecQualAndReset(state->recheck, econtext);
}

static TupleTableSlot *
seek_exec(CustomScanState *node)
{
	/*
	 * Nothing to filter or project and no EvalPlanQual recheck under way:
	 * hand the records out as they come, as ExecScan would after resetting
	 * the per-row expression context that only quals and projections use
	 * (seek_next allocates nothing per row).
	 */
	if (node->ss.ps.qual == NULL && node->ss.ps.ps_ProjInfo == NULL &&
		node->ss.ps.state->es_epq_active == NULL)
		return seek_next(&node->ss);
	return ExecScan(&node->ss, seek_next, seek_recheck);
}

static void
seek_end(CustomScanState *node)
{
	TopicSeekState *state = (TopicSeekState *) node;

	if (state->started)
		topic_reader_end(state->reader);
	state->done = true;
}

static void
seek_rescan(CustomScanState *node)
{
	TopicSeekState *state = (TopicSeekState *) node;

	seek_end(node);
	state->started = false;		/* parameters may have changed */
}

static void
seek_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *context = set_deparse_context_plan(es->deparse_cxt,
												   (Plan *) cscan, ancestors);
	static const char *const labels[SEEK_NEXPRS] = {
		"Partition", "Seq From", "Seq To", "Time From"
	};
	int			i;

	for (i = 0; i < SEEK_NEXPRS; i++)
	{
		Expr	   *e = list_nth(cscan->custom_exprs, i);

		if (e != NULL)
		{
			char	   *s = deparse_expression((Node *) e, context, false, false);

			if (list_nth_int(cscan->custom_private, i))
				s = psprintf("%s (exclusive)", s);
			if (i == SEEK_PARTITION &&
				list_nth_int(cscan->custom_private, SEEK_FLAG_ONLY_PARTITION))
				s = psprintf("%s (the only one)", s);
			ExplainPropertyText(labels[i], s, es);
		}
	}
	if (list_nth_int(cscan->custom_private, SEEK_FLAG_BACKWARD))
		ExplainPropertyText("Direction", "backward", es);
}

void
topic_seekscan_init(void)
{
	RegisterCustomScanMethods(&seek_scan_methods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = topic_set_rel_pathlist;
}
