/*-------------------------------------------------------------------------
 *
 * topic_scancolumns.c
 *	  The columns a row of the TopicFetch and TopicSeek scans holds.
 *
 * A scan's row was every column of topics.record, and the planner gives a
 * sequential scan a physical target list so that its rows need no
 * projection, but never a custom path: each row of SELECT key, value FROM
 * topics.fetch(...), or of count(*) over a seeking SELECT, went through
 * ExecScan and a projection.  Here a scan's row is made of the columns the
 * query uses, in the order of the plan's target list, so that it is what
 * the query wants as it comes (custom_scan_tlist); the record is decoded as
 * far as the last of them and mapped in.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "nodes/makefuncs.h"
#include "nodes/pathnodes.h"
#include "optimizer/optimizer.h"

/* Is var a plain column of rel (not a whole row, system column or outer one)? */
static bool
plain_column(Var *var, RelOptInfo *rel, TupleDesc desc)
{
	return IsA(var, Var) && var->varno == rel->relid && var->varlevelsup == 0 &&
		var->varattno >= 1 && var->varattno <= desc->natts;
}

/*
 * The scan tuple: the columns the query uses, those of the path's target (the
 * rel's, in the order the planner builds the scan's target list from it) and
 * then any more that the quals use.  The target list passed to
 * PlanCustomPath cannot serve: it is empty when the planner puts a
 * projection of its own on the scan afterwards.  False when the target or
 * the quals hold anything but plain columns of the rel (a whole row, a
 * system column, a placeholder).
 */
bool
topic_scan_columns(RelOptInfo *rel, PathTarget *target, List *quals, TupleDesc desc,
				   List **scan_tlist)
{
	List	   *vars = NIL;
	ListCell   *lc;

	*scan_tlist = NIL;
	foreach(lc, target->exprs)
	{
		Var		   *var = (Var *) lfirst(lc);

		if (!plain_column(var, rel, desc) || list_member(vars, var))
			return false;
		vars = lappend(vars, var);
	}
	foreach(lc, pull_var_clause((Node *) quals, PVC_RECURSE_PLACEHOLDERS))
	{
		Var		   *var = (Var *) lfirst(lc);

		/* another rel's, in a join clause: a nestloop parameter at run time */
		if (var->varno != rel->relid)
			continue;
		if (!plain_column(var, rel, desc))
			return false;
		if (!list_member(vars, var))
			vars = lappend(vars, var);
	}
	foreach(lc, vars)
	{
		Var		   *var = lfirst(lc);

		*scan_tlist = lappend(*scan_tlist,
							  makeTargetEntry((Expr *) copyObject(var),
											  list_length(*scan_tlist) + 1,
											  pstrdup(NameStr(TupleDescAttr(desc, var->varattno - 1)->attname)),
											  false));
	}
	return true;
}

/*
 * The record column of each column of a scan tuple, read off the plan's
 * custom_scan_tlist (plain Vars: topic_scan_columns' list, or every column),
 * for topic_column_map_deform, which decodes no further than last_needed
 * (-1: the last of the columns; TopicFetch, whose row may be every column
 * when fewer are used, passes the last one used).
 */
void
topic_column_map_init(TopicColumnMap *map, List *scan_tlist, int last_needed)
{
	ListCell   *lc;

	map->ncols = 0;
	map->prefix = true;
	map->last_needed = Max(last_needed, 0);
	foreach(lc, scan_tlist)
	{
		AttrNumber	attno = ((Var *) ((TargetEntry *) lfirst(lc))->expr)->varattno;

		Assert(attno >= 1 && attno <= Natts_topic && map->ncols < Natts_topic);
		map->columns[map->ncols] = attno;
		if (attno != map->ncols + 1)
			map->prefix = false;
		if (last_needed < 0)
			map->last_needed = Max(map->last_needed, attno);
		map->ncols++;
	}
}

/* Decode the record at "off" into a scan tuple's values. */
void
topic_column_map_deform(TopicColumnMap *map, Page page, OffsetNumber off,
						Datum *values, bool *isnull)
{
	int			i;

	if (map->prefix)
	{
		/* the record's first columns: straight in, the unused ones null */
		int			n = Min(map->last_needed, map->ncols);

		topic_record_deform(page, off, n, values, isnull);
		for (i = n; i < map->ncols; i++)
			isnull[i] = true;
		return;
	}
	topic_record_deform(page, off, map->last_needed, map->values, map->isnull);
	for (i = 0; i < map->ncols; i++)
	{
		values[i] = map->values[map->columns[i] - 1];
		isnull[i] = map->isnull[map->columns[i] - 1];
	}
}
