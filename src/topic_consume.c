/*-------------------------------------------------------------------------
 *
 * topic_consume.c
 *	  Consumer groups: consume() and the group checks and changes in C.
 *
 * A look at the group, topics._consume_look (PL/pgSQL), makes a group's
 * rows when they are missing and lists the partitions of the group with
 * records waiting, the most first.  consume() (here, since 0.19) locks the
 * committed offset row of the first one no other member holds until the
 * end of the transaction, reads that partition's records from the
 * committed offset into its result and moves the offset past the last of
 * them; topics._consume_partition does the same read and move for one
 * partition as a function of its own.
 *
 * Before 0.5 consume did the second half in PL/pgSQL too, looping over
 * fetch() with a record variable.  Per record that cost a cursor fetch, a
 * heap tuple, an expanded record, a tuple conversion map and RETURN NEXT:
 * about 45% of a call's time in a profile of a consume loop.  And every
 * call ran a subtransaction, to catch fetch's out-of-range error when
 * retention removed the committed offset between consume's look at the log
 * start and the read.  Here the records go from the pinned pages straight
 * into the result, and a read whose start retention removed goes on at the
 * new log start (as get_records does, and as a Kafka consumer resets on
 * OffsetOutOfRange), so no subtransaction is needed.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(pg_topics_consume_partition);

static void check_group_access(Oid relid, text *group_id);
static int64 consume_partition(text *group_id, Oid relid, int32 partition, int64 from_seq,
							   int32 max_records, Tuplestorestate *tupstore, TupleDesc tupdesc);

/* the statements of consume and _consume_partition, prepared once per backend */
static SPIPlanPtr move_offset_plan = NULL;
static SPIPlanPtr consume_lock_plan = NULL;

/* *cache, prepared and kept when not yet */
static SPIPlanPtr
consume_plan(SPIPlanPtr *cache, const char *query, int nargs, Oid *types)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(query, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*cache = plan;
	}
	return *cache;
}

/*
 * Move the group's committed offset of the partition to "seq", as the
 * caller: privileges and row-level security on topics.committed_offsets
 * apply as to the UPDATE consume ran before 0.5.  Operators are named with
 * their schema, so the caller's search_path does not matter.
 */
static bool
move_committed_offset(text *group_id, Oid relid, int32 partition, int64 seq)
{
	Oid			types[4] = {TEXTOID, REGCLASSOID, INT4OID, INT8OID};
	Datum		values[4];
	int			ret;
	bool		moved;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = PointerGetDatum(group_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = Int32GetDatum(partition);
	values[3] = Int64GetDatum(seq);
	ret = SPI_execute_plan(consume_plan(&move_offset_plan,
										"UPDATE topics.committed_offsets "
										"SET seq = $4, committed_at = pg_catalog.now() "
										"WHERE group_id OPERATOR(pg_catalog.=) $1 "
										"AND topic OPERATOR(pg_catalog.=) $2 "
										"AND partition OPERATOR(pg_catalog.=) $3",
										4, types),
						   values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "moving the committed offset failed: %s",
			 SPI_result_code_string(ret));
	moved = SPI_processed > 0;
	SPI_finish();
	return moved;
}

/* Whether the group starts at "latest" (else "earliest"), as the caller. */
static bool
group_resets_to_latest(text *group_id, Oid relid)
{
	Oid			types[2] = {TEXTOID, REGCLASSOID};
	Datum		values[2];
	bool		latest = false;

	values[0] = PointerGetDatum(group_id);
	values[1] = ObjectIdGetDatum(relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT g.auto_offset_reset OPERATOR(pg_catalog.=) 'latest' "
							  "FROM topics.consumer_groups g "
							  "WHERE g.group_id OPERATOR(pg_catalog.=) $1 "
							  "AND g.topic OPERATOR(pg_catalog.=) $2",
							  2, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		latest = !isnull && DatumGetBool(d);
	}
	SPI_finish();
	return latest;
}

/*
 * What one call returns at most, of keys, values and headers (the first
 * record always comes): Kafka's fetch.max.bytes default.  Without it, 1000
 * records of 1 MB made one result of 1 GB, which a driver that holds a
 * result in memory may not survive, and its consumer, never committing,
 * would fetch the same again.
 */
#define CONSUME_MAX_BYTES (50 * 1024 * 1024)

/*
 * _consume_partition(group_id text, topic regclass, partition int,
 *					  from_seq bigint, max_records int)
 *		RETURNS SETOF topics.record
 *
 * Up to max_records records (and CONSUME_MAX_BYTES) of the partition from
 * from_seq on (from the log start if retention removed from_seq), in seq
 * order and stopping before the first record of a transaction still in
 * progress, as fetch() reads.  The group's committed offset of the
 * partition moves to where the read stopped: the seq after the last record
 * returned, or, when it returned none, past the aborted records (and seqs
 * never used) it stepped over and at least to the log start, as a Kafka
 * read_committed consumer's position moves past aborted batches and resets
 * to the log start.  Before 0.8 it moved only when a record came back, so
 * a partition whose records after the position were all aborted kept its
 * lag for good, and consume(), which took the partition with the largest
 * lag, returned nothing from it on every call while the group's other
 * partitions waited.  consume() calls it holding the lock on that offset's
 * row; a direct call takes the row lock with the UPDATE and needs the same
 * privileges as the UPDATE.
 */
Datum
pg_topics_consume_partition(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	topic_require_arg(fcinfo, 0, "group_id");
	topic_require_arg(fcinfo, 1, "topic");
	topic_require_arg(fcinfo, 2, "partition");
	topic_require_arg(fcinfo, 3, "from_seq");
	topic_require_arg(fcinfo, 4, "max_records");
	topic_check_read_range(PG_GETARG_INT64(3), PG_GETARG_INT32(4));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	(void) consume_partition(PG_GETARG_TEXT_PP(0), PG_GETARG_OID(1), PG_GETARG_INT32(2),
							 PG_GETARG_INT64(3), PG_GETARG_INT32(4),
							 rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}

/*
 * The work of _consume_partition, into tupstore: returns how many records
 * it put there.
 */
static int64
consume_partition(text *group_id, Oid relid, int32 partition, int64 from_seq,
				  int32 max_records, Tuplestorestate *tupstore, TupleDesc tupdesc)
{
	int64		start;
	int64		position;
	bool		reset = false;
	int64		reset_end = 0;
	Relation	rel;
	TopicPartitionState state;
	TopicCollectState cs;

	memset(&cs, 0, sizeof(cs));
	cs.max_records = max_records;
	cs.max_bytes = CONSUME_MAX_BYTES;

	rel = topic_open(relid, AccessShareLock, ACL_SELECT);
	topic_check_partition(rel, partition);

	cs.tupstore = tupstore;
	cs.tupdesc = tupdesc;
	/*
	 * Start at the log start when retention (or TRUNCATE) removed from_seq:
	 * the position then moves there even when nothing is left to read, and
	 * the partition stops looking behind to consume().  The walk follows the
	 * log start should retention move it again meanwhile.
	 */
	topic_get_state(rel, partition, &state);
	start = Max(from_seq, state.log_start_seq);
	if (from_seq > state.log_start_seq)
	{
		int64		next = topic_partition_next_seq(rel, partition, &state);

		/*
		 * A position past the partition's end: a restored dump goes on from
		 * each partition's last record, without the unused seqs after it
		 * that the group had read past, or commit() was given a seq not
		 * produced yet.  Until 0.9 the group then skipped every record
		 * produced up to its position, silently.  Like a Kafka consumer
		 * whose offset is out of range, it goes back by the group's
		 * auto_offset_reset.
		 */
		if (from_seq > next)
		{
			start = group_resets_to_latest(group_id, relid) ?
				topic_partition_last_stable(rel, partition, next) : state.log_start_seq;
			reset = true;
			reset_end = next;
		}
	}
	position = topic_read_partition(rel, partition, start, -1,
									GetActiveSnapshot(), TOPIC_READ_STABLE, true,
									topic_collect_record, &cs);
	/* the partition is free for other members when this transaction ends */
	topic_wait_note_change(rel);
	table_close(rel, NoLock);

	/*
	 * Past every record returned (position > from_seq when one was), or an
	 * error, which takes the records back: the row-level security policies
	 * refuse the move when the group's owner changed while it read (consume
	 * holds the row), and the member would have had the records while the
	 * group stayed where it was (0.18's first builds), or when a direct
	 * call names a group the caller may not move.  The reset is logged once
	 * the position moved (until 0.18 any reader could write any group id
	 * into the server log with a direct call).
	 */
	if (position > from_seq || reset)
	{
		if (!move_committed_offset(group_id, relid, partition, position))
		{
			check_group_access(relid, group_id);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("could not move the position of consumer group \"%s\" in partition %d of topic \"%s\"",
							text_to_cstring(group_id), partition, get_rel_name(relid)),
					 errdetail("The group has no position there, or the caller may no longer read the topic."),
					 errhint("Consume again with topics.consume().")));
		}
		if (reset)
			ereport(LOG,
					(errmsg("pg_topics: position %lld of group \"%s\" in partition %d of topic \"%s\" is past the end of the partition, %lld; it goes back to %lld",
							(long long) from_seq, text_to_cstring(group_id), partition,
							get_rel_name(relid), (long long) reset_end, (long long) start)));
	}
	return cs.count;
}

/*
 * consume(group_id text, topic regclass, max_records int, wait interval)
 *		RETURNS SETOF topics.record
 *
 * Records for a member of a group: from the partition with the most
 * records waiting that no other member holds, from the group's committed
 * position, which moves past them in the same transaction; with a wait,
 * a long poll until records come or the deadline passes.  Each look at the
 * group (the checks, the group's rows when missing, the partitions to try)
 * is topics._consume_look, in PL/pgSQL; then, for each partition it names,
 * the position's row is locked (skipping those other members hold) and
 * the records are read straight into this function's result.
 *
 * Until 0.19 all of it was PL/pgSQL, and RETURN QUERY copied every record
 * _consume_partition had put into its result into consume's own, a
 * second time: 37% of a call that returned 1000 records, more than the
 * read itself.  Everything runs as the caller, as before: privileges and
 * row-level security on the extension's tables apply to every statement,
 * and the statements name their operators with their schema, so the
 * caller's search_path is not consulted.
 */
PG_FUNCTION_INFO_V1(pg_topics_consume);

/*
 * The look's result must be a row of (bigint, integer[]), as this library
 * reads it: a look of another shape, or none (a library newer or older
 * than the SQL of the extension, or a function made again by hand), is an
 * error, not a misread.  Returns the row.
 */
static HeapTupleHeader
check_look_result(Datum result, bool isnull)
{
	HeapTupleHeader tuple = NULL;
	bool		ok = !isnull;

	if (ok)
	{
		TupleDesc	desc;

		tuple = DatumGetHeapTupleHeader(result);
		desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(tuple),
									  HeapTupleHeaderGetTypMod(tuple));
		ok = desc->natts == 2 &&
			TupleDescAttr(desc, 0)->atttypid == INT8OID &&
			TupleDescAttr(desc, 1)->atttypid == INT4ARRAYOID;
		ReleaseTupleDesc(desc);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("function topics._consume_look does not return (generation bigint, candidates integer[])"),
				 errhint("Update the extension with ALTER EXTENSION pg_topics UPDATE.")));
	return tuple;
}

Datum
pg_topics_consume(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			look_types[4] = {TEXTOID, REGCLASSOID, BOOLOID, BOOLOID};
	FmgrInfo	look;
	MemoryContext lookcxt;
	MemoryContext oldcxt;
	Oid			lock_types[3] = {TEXTOID, REGCLASSOID, INT4OID};
	text	   *group_id;
	Oid			relid;
	int32		max_records;
	int64		wait_ms;
	bool		waiting;
	TimestampTz deadline;
	bool		first = true;
	bool		last_look = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("group_id, topic, max_records and wait must not be null")));
	group_id = PG_GETARG_TEXT_PP(0);
	relid = PG_GETARG_OID(1);
	max_records = PG_GETARG_INT32(2);
	if (max_records < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_records must be at least 1")));
	/* as fetch and get_records take it */
	wait_ms = topic_interval_ms(PG_GETARG_INTERVAL_P(3), "wait");
	waiting = wait_ms > 0;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* what one look leaves, gone at the next: a long poll may look often */
	lookcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_topics consume look",
									ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		LOCAL_FCINFO(look_fcinfo, 4);
		HeapTupleHeader look_result;
		Datum		d;
		bool		isnull;
		int64		generation = 0;
		ArrayType  *candidates = NULL;
		Datum	   *parts = NULL;
		int			nparts = 0;
		int			i;
		int64		got = 0;

		MemoryContextReset(lookcxt);
		oldcxt = MemoryContextSwitchTo(lookcxt);

		/*
		 * The look is called through fmgr, not as a statement: the caller's
		 * right to execute consume is the only gate, as when consume was all
		 * PL/pgSQL (a statement would need EXECUTE on the look too, which a
		 * database whose functions are not PUBLIC's by default gives only to
		 * those granted it after it was made; a review's finding).  It still
		 * runs as the caller, with its own search_path, looked up at every
		 * look as a statement would (a long poll sees an ALTER FUNCTION).
		 */
		fmgr_info(LookupFuncName(list_make2(makeString("topics"), makeString("_consume_look")),
								 4, look_types, false),
				  &look);
		InitFunctionCallInfoData(*look_fcinfo, &look, 4, DEFAULT_COLLATION_OID, NULL, NULL);
		look_fcinfo->args[0].value = PointerGetDatum(group_id);
		look_fcinfo->args[0].isnull = false;
		look_fcinfo->args[1].value = ObjectIdGetDatum(relid);
		look_fcinfo->args[1].isnull = false;
		look_fcinfo->args[2].value = BoolGetDatum(first);
		look_fcinfo->args[2].isnull = false;
		look_fcinfo->args[3].value = BoolGetDatum(waiting);
		look_fcinfo->args[3].isnull = false;
		d = FunctionCallInvoke(look_fcinfo);
		look_result = check_look_result(d, look_fcinfo->isnull);
		first = false;
		d = GetAttributeByNum(look_result, 1, &isnull);
		if (!isnull)
			generation = DatumGetInt64(d);
		d = GetAttributeByNum(look_result, 2, &isnull);
		if (!isnull)
		{
			candidates = DatumGetArrayTypePCopy(d);
			deconstruct_array(candidates, INT4OID, sizeof(int32), true, TYPALIGN_INT,
							  &parts, NULL, &nparts);
		}

		for (i = 0; i < nparts && got == 0; i++)
		{
			Datum		lock_args[3];
			int64		pos;

			/* the position's row, unless another member holds it */
			lock_args[0] = PointerGetDatum(group_id);
			lock_args[1] = ObjectIdGetDatum(relid);
			lock_args[2] = parts[i];
			if (SPI_execute_plan(consume_plan(&consume_lock_plan,
											  "SELECT o.seq FROM topics.committed_offsets o "
											  "WHERE o.group_id OPERATOR(pg_catalog.=) $1 "
											  "AND o.topic OPERATOR(pg_catalog.=) $2 "
											  "AND o.partition OPERATOR(pg_catalog.=) $3 "
											  "FOR UPDATE OF o SKIP LOCKED",
											  3, lock_types),
								 lock_args, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "locking the committed offset failed");
			if (SPI_processed == 0)
			{
				SPI_freetuptable(SPI_tuptable);
				continue;
			}
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			pos = isnull ? -1 : DatumGetInt64(d);	/* before the tuple goes */
			SPI_freetuptable(SPI_tuptable);
			if (isnull)
				continue;
			topic_check_read_range(pos, max_records);

			/*
			 * The records, with a snapshot taken now, as a statement of the
			 * function would read them (after a wait, the one the call
			 * started with would not see what came meanwhile); and the
			 * group's position moved past them.  A partition with nothing to
			 * read yet, or only aborted records (which the position moves
			 * past), gives none: the next one is tried.
			 */
			CommandCounterIncrement();
			PushActiveSnapshot(GetTransactionSnapshot());
			got = consume_partition(group_id, relid, DatumGetInt32(parts[i]), pos, max_records,
									rsinfo->setResult, rsinfo->setDesc);
			PopActiveSnapshot();
		}
		MemoryContextSwitchTo(oldcxt);

		/* at the deadline, one last look, as fetch and get_records take */
		if (got > 0 || last_look || !waiting)
			break;
		if (GetCurrentTimestamp() >= deadline)
			last_look = true;
		else
		{
			topic_check_access(relid, ACL_SELECT, false);
			last_look = !topic_wait_possible() ||
				!topic_wait_for_commit(relid, (uint64) generation, deadline);
		}
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * delete_consumer_group(group_id text, topic regclass) RETURNS boolean
 *
 * Forget a group's committed positions on a topic (Kafka's DeleteGroups),
 * and before 0.18 its row.  True when something went.  The caller needs
 * SELECT on the topic, as to consume as the group, and since 0.18 the
 * right to use the group; the group's row, with its owner and setting,
 * stays (see below).
 *
 * Since 0.12 a group whose auto_offset_reset is "latest" keeps that setting:
 * in Kafka it is the consumer's configuration, not the group's state, and
 * deleting a group is how its consumers are sent to the end of the log.
 * Until then the row went with the positions, and the group's next consume
 * made it again as "earliest", reading the whole log.  Deleting such a
 * group again finds nothing to forget.  The topic's long-poll waiters are
 * woken when the deletion commits, so that a member waiting in consume
 * makes its positions again then, and not only at the next record, which
 * a "latest" group would then skip.
 *
 * Since 0.10 PUBLIC holds only column privileges to INSERT and UPDATE the
 * extension's tables, and no DELETE: PostgreSQL lets a table-level UPDATE
 * or DELETE take any lock with LOCK TABLE, so any role could hold up every
 * consumer and DROP TABLE of the database.  The rows are deleted here as
 * the owner of the tables, after the caller's privilege is checked, as a
 * security-restricted operation; the statements name their operators with
 * their schema, so no search_path is consulted.  Since 0.18 a group has an
 * owner, and a role that may not use the group is refused (with the
 * reason) before anything goes.
 */
PG_FUNCTION_INFO_V1(pg_topics_delete_consumer_group);

Datum
pg_topics_delete_consumer_group(PG_FUNCTION_ARGS)
{
	text	   *group_id;
	Oid			relid;
	Oid			types[3] = {TEXTOID, REGCLASSOID, BOOLOID};
	Datum		values[3];
	Oid			groups_relid;
	Relation	rel;
	bool		keep_latest;
	bool		has_owner;
	Oid			save_userid;
	int			save_sec_context;
	bool		existed;

	topic_require_arg(fcinfo, 0, "group_id");
	topic_require_arg(fcinfo, 1, "topic");
	group_id = PG_GETARG_TEXT_PP(0);
	relid = PG_GETARG_OID(1);

	/* the caller may read the topic (a lock, so it is not dropped under us) */
	rel = topic_open(relid, AccessShareLock, ACL_SELECT);
	topic_wait_note_change(rel);
	table_close(rel, NoLock);

	groups_relid = topic_extension_relid("consumer_groups");
	if (!OidIsValid(groups_relid))
		elog(ERROR, "table topics.consumer_groups does not exist");

	values[0] = PointerGetDatum(group_id);
	values[1] = ObjectIdGetDatum(relid);

	/* a group that has an owner is its owner's to delete (since 0.18) */
	check_group_access(relid, group_id);

	/* since 0.12 and 0.18 (this library may serve an older version) */
	keep_latest = get_attnum(topic_extension_relid("committed_offsets"),
							 "topic_partitions") != InvalidAttrNumber;
	values[2] = BoolGetDatum(keep_latest);
	has_owner = get_attnum(groups_relid, "owner") != InvalidAttrNumber;
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(topic_relation_owner(groups_relid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (SPI_execute_with_args("DELETE FROM topics.committed_offsets o "
							  "WHERE o.group_id OPERATOR(pg_catalog.=) $1 "
							  "AND o.topic OPERATOR(pg_catalog.=) $2",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "deleting the committed positions failed");
	existed = SPI_processed > 0;
	/*
	 * Since 0.18 the group's row stays, with its owner (as Kafka's ACLs
	 * outlive a group) and setting: an open group's row went, and whoever
	 * made the group next owned it, so any reader could take an open group;
	 * and a position a member stored meanwhile was left without its group,
	 * for the next maker of the id to start from.
	 */
	if (!has_owner)
	{
		if (SPI_execute_with_args("DELETE FROM topics.consumer_groups g "
								  "WHERE g.group_id OPERATOR(pg_catalog.=) $1 "
								  "AND g.topic OPERATOR(pg_catalog.=) $2 "
								  "AND NOT ($3 AND g.auto_offset_reset OPERATOR(pg_catalog.=) 'latest')",
								  3, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "deleting the consumer group failed");
		existed = existed || SPI_processed > 0;
	}
	SPI_finish();
	/* an error on the way resets the user at (sub)transaction abort */
	SetUserIdAndSecContext(save_userid, save_sec_context);

	PG_RETURN_BOOL(existed);
}

/* ------------------------------------------------------------------------
 * Owners of consumer groups (since 0.18)
 *
 * A group belongs to a role (topics.consumer_groups.owner, the name of the
 * role that made it), as Kafka guards groups with ACLs on principals: only
 * roles with that role's privileges, or with those of the topic's owner,
 * may move it.  A group without an owner (NULL: made before 0.18) is open
 * to every role that may read the topic, and only the topic's owner may
 * give it one.  The owner is kept by name, as pg_dump restores GRANTs and
 * as Kafka names principals: a dump restores into a cluster whose roles
 * have other OIDs, or lack the role, without binding the group to another
 * role or failing to load (a regrole column did either); a role that was
 * dropped or renamed leaves the group to the topic's owner.
 *
 * The row-level security policies of topics.consumer_groups and
 * topics.committed_offsets apply the rule to every row written, and consume
 * evaluates them for every row it locks and moves, so they are C.  The
 * group's row is read with the latest snapshot, not the statement's: a
 * statement whose snapshot predates the group (or its new owner) must not
 * count it as open.  A position needs its group's row (a reader could
 * otherwise store positions for a group nobody has made yet, which its
 * maker would then start from).
 * ------------------------------------------------------------------------
 */

/* Whether the current role has the privileges of role "name". */
static bool
has_privs_of_role_name(const char *name)
{
	Oid			roleid = get_role_oid(name, true);

	return OidIsValid(roleid) && has_privs_of_role(GetUserId(), roleid);
}

/* Whether the current role has the privileges of the topic's owner. */
static bool
owns_topic(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			relowner;

	if (!HeapTupleIsValid(tuple))
		return false;
	relowner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return has_privs_of_role(GetUserId(), relowner);
}

static bool
may_use_group(Oid relid, const char *owner)
{
	return owner == NULL || has_privs_of_role_name(owner) || owns_topic(relid);
}

/*
 * Whether the current role may read the topic (SELECT, and USAGE on its
 * schema, as the functions check), without an error.
 */
static bool
may_read_topic(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			nsp;
	bool		missing = false;

	if (!HeapTupleIsValid(tuple))
		return false;
	nsp = ((Form_pg_class) GETSTRUCT(tuple))->relnamespace;
	ReleaseSysCache(tuple);
	return pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) == ACLCHECK_OK &&
		pg_class_aclcheck_ext(relid, GetUserId(), ACL_SELECT, &missing) == ACLCHECK_OK &&
		!missing;
}

/*
 * Begin a scan of a group's rows in one of the extension's tables (their
 * primary keys begin with group_id and topic); "key" holds two scan keys.
 */
static SysScanDesc
group_rows_scan(Relation rel, Oid relid, text *group_id, Snapshot snap, ScanKeyData *key)
{
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(group_id));
	key[0].sk_collation = DEFAULT_COLLATION_OID;
	ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	return systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, snap, 2, key);
}

/*
 * Read the row of group "group_id" on topic relid, with the latest
 * snapshot (see above): false when there is none; else *owner is its
 * owner's name, palloc'd, or NULL for an open group.
 */
static bool
group_owner(Oid relid, text *group_id, char **owner)
{
	Oid			groups_relid = topic_extension_relid("consumer_groups");
	Relation	groups;
	AttrNumber	attnum;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	bool		found = false;

	*owner = NULL;
	if (!OidIsValid(groups_relid))
		return false;
	groups = table_open(groups_relid, AccessShareLock);
	attnum = get_attnum(groups_relid, "owner");
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = group_rows_scan(groups, relid, group_id, snap, key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		found = true;
		if (attnum != InvalidAttrNumber)
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, attnum, RelationGetDescr(groups), &isnull);

			if (!isnull)
				*owner = pstrdup(NameStr(*DatumGetName(d)));
		}
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(groups, AccessShareLock);
	return found;
}

/*
 * topics._may_use_group(topic regclass, owner name) RETURNS boolean:
 * whether the current role may move a group of the topic owned by "owner"
 * (the policies of topics.consumer_groups, on the row's own owner).
 */
PG_FUNCTION_INFO_V1(pg_topics_may_use_group);

Datum
pg_topics_may_use_group(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(may_use_group(PG_GETARG_OID(0),
								 PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1))));
}

/*
 * topics._may_use_group_id(topic regclass, group_id text) RETURNS boolean:
 * the same for the group of that id (the policies of
 * topics.committed_offsets): false when the group has no row, and for a
 * topic the caller may not read.
 */
PG_FUNCTION_INFO_V1(pg_topics_may_use_group_id);

Datum
pg_topics_may_use_group_id(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *owner;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	relid = PG_GETARG_OID(0);
	if (!may_read_topic(relid) || !group_owner(relid, PG_GETARG_TEXT_PP(1), &owner))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(may_use_group(relid, owner));
}

/*
 * Whether another transaction, still running, is making rows of the group
 * (its consumer_groups row or positions): they are seen with a dirty
 * snapshot.  consume's member that finds the group's advisory lock held by
 * a session it cannot trust (see consume) makes the rows itself, unless
 * somebody is making them: a role that may not use the group cannot, and a
 * member calling through a SECURITY DEFINER function, whose login role is
 * all the lock shows, is.
 */
static bool
rows_in_progress(Oid table_relid, Oid relid, text *group_id)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	SnapshotData dirty;
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(table_relid))
		return false;
	rel = table_open(table_relid, AccessShareLock);
	InitDirtySnapshot(dirty);
	scan = group_rows_scan(rel, relid, group_id, &dirty, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = TransactionIdIsValid(dirty.xmin);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * topics._group_rows_in_progress(group_id text, topic regclass) RETURNS
 * boolean: rows_in_progress of both tables, for a reader of the topic.
 */
PG_FUNCTION_INFO_V1(pg_topics_group_rows_in_progress);

Datum
pg_topics_group_rows_in_progress(PG_FUNCTION_ARGS)
{
	Oid			relid;
	text	   *group_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	group_id = PG_GETARG_TEXT_PP(0);
	relid = PG_GETARG_OID(1);
	if (!may_read_topic(relid))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(rows_in_progress(topic_extension_relid("consumer_groups"), relid, group_id) ||
				   rows_in_progress(topic_extension_relid("committed_offsets"), relid, group_id));
}

/*
 * Refuse a role that may not move the group, saying why, before consume,
 * commit, set_auto_offset_reset, set_consumer_group_owner and
 * delete_consumer_group change anything (the policies alone would name the
 * extension's tables, or be silent: a row the caller may not lock is
 * skipped).  The caller has checked that the caller may read the topic.
 */
static void
check_group_access(Oid relid, text *group_id)
{
	char	   *owner;

	if (!group_owner(relid, group_id, &owner) || may_use_group(relid, owner))
		return;
	if (!OidIsValid(get_role_oid(owner, true)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for consumer group \"%s\" of topic \"%s\"",
						text_to_cstring(group_id), get_rel_name(relid)),
				 errdetail("The group belongs to role %s, which does not exist (any more): only the topic's owner "
						   "may use the group.", quote_identifier(owner)),
				 errhint("The owner of the topic can give the group to another role with topics.set_consumer_group_owner().")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for consumer group \"%s\" of topic \"%s\"",
					text_to_cstring(group_id), get_rel_name(relid)),
			 errdetail("The group belongs to role %s: only roles with its privileges, or those of the topic's owner, "
					   "may consume as, commit, reset, delete or give away the group.",
					   quote_identifier(owner)),
			 errhint("Use a group id of your own, or have role %s granted to %s.",
					 quote_identifier(owner),
					 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

/*
 * topics._check_group_access(group_id text, topic regclass) RETURNS void:
 * check_group_access, for the functions in SQL.
 */
PG_FUNCTION_INFO_V1(pg_topics_check_group_access);

Datum
pg_topics_check_group_access(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	/* nothing about the groups of a topic the caller may not read */
	topic_check_access(PG_GETARG_OID(1), ACL_SELECT, false);
	check_group_access(PG_GETARG_OID(1), PG_GETARG_TEXT_PP(0));
	PG_RETURN_VOID();
}

/*
 * The checks of set_consumer_group_owner (see below) on the group's row as
 * last committed: whether it exists, and its owner (*owner, NULL when
 * open).
 */
static bool
check_owner_change(Oid relid, text *group_id, Oid newowner, bool topic_owner, char **owner)
{
	bool		exists;

	check_group_access(relid, group_id);
	exists = group_owner(relid, group_id, owner);
	if (!topic_owner && exists && *owner == NULL && OidIsValid(newowner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of topic \"%s\" may give consumer group \"%s\" an owner",
						get_rel_name(relid), text_to_cstring(group_id)),
				 errdetail("The group has no owner: it is open to every role that may read the topic, "
						   "and one of them taking it would lock the others out."),
				 errhint("Ask the owner of the topic.")));
	if (!topic_owner && !OidIsValid(newowner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of topic \"%s\" may open consumer group \"%s\"",
						get_rel_name(relid), text_to_cstring(group_id)),
				 errdetail("An open group may be used by every role that may read the topic."),
				 errhint("Give the group to a role its consumers are members of instead.")));
	if (OidIsValid(newowner) && !topic_owner && !has_privs_of_role(GetUserId(), newowner))
	{
		char	   *newname = GetUserNameFromId(newowner, false);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to give consumer group \"%s\" to role %s",
						text_to_cstring(group_id), quote_identifier(newname)),
				 errdetail("A group may be given to a role whose privileges the caller has, or by the topic's owner to any role."),
				 errhint("Have role %s granted to %s, or ask the owner of the topic.",
						 quote_identifier(newname),
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
	}
	return exists;
}

/*
 * Store the group's new owner (NULL: open) as the tables' owner, provided
 * the row is still as checked ("exists", with owner "owner"): false when
 * it changed, or a group was made meanwhile (by a consume, say), which the
 * insert waits for rather than taking it over.
 */
static bool
store_group_owner(Oid groups_relid, Oid relid, text *group_id, Oid newowner, bool exists,
				  const char *owner)
{
	Oid			types[4] = {TEXTOID, REGCLASSOID, NAMEOID, NAMEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	NameData	newname;
	NameData	oldname;
	Oid			save_userid;
	int			save_sec_context;
	bool		written;

	values[0] = PointerGetDatum(group_id);
	values[1] = ObjectIdGetDatum(relid);
	if (OidIsValid(newowner))
	{
		namestrcpy(&newname, GetUserNameFromId(newowner, false));
		values[2] = NameGetDatum(&newname);
	}
	else
		nulls[2] = 'n';
	if (owner != NULL)
	{
		namestrcpy(&oldname, owner);
		values[3] = NameGetDatum(&oldname);
	}
	else
		nulls[3] = 'n';

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(topic_relation_owner(groups_relid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(exists ?
							  "INSERT INTO topics.consumer_groups AS g (group_id, topic, owner) "
							  "VALUES ($1, $2, $3) "
							  "ON CONFLICT ON CONSTRAINT consumer_groups_pkey "
							  "DO UPDATE SET owner = EXCLUDED.owner "
							  "WHERE g.owner IS NOT DISTINCT FROM $4" :
							  "INSERT INTO topics.consumer_groups AS g (group_id, topic, owner) "
							  "VALUES ($1, $2, $3) "
							  "ON CONFLICT ON CONSTRAINT consumer_groups_pkey DO NOTHING",
							  exists ? 4 : 3, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "storing the consumer group's owner failed");
	written = SPI_processed > 0;
	SPI_finish();
	/* an error on the way resets the user at (sub)transaction abort */
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return written;
}

/*
 * topics.set_consumer_group_owner(group_id text, topic regclass, owner regrole):
 * give a group to a role, or open it (NULL), making the group when it does
 * not exist.  A role that may use the group may give it to a role whose
 * privileges it has; the topic's owner may give any group to any role, and
 * only it may open a group or give an open group (one made before 0.18)
 * an owner: otherwise any reader could take a group that other readers use
 * and lock them out.  The row is written as the tables' owner (PUBLIC may
 * not write the column), as delete_consumer_group deletes.
 */
PG_FUNCTION_INFO_V1(pg_topics_set_consumer_group_owner);

Datum
pg_topics_set_consumer_group_owner(PG_FUNCTION_ARGS)
{
	text	   *group_id;
	Oid			relid;
	Oid			newowner = InvalidOid;
	char	   *owner;
	bool		exists;
	bool		topic_owner;
	Oid			groups_relid;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			attempts = 0;
	Relation	rel;

	topic_require_arg(fcinfo, 0, "group_id");
	topic_require_arg(fcinfo, 1, "topic");
	group_id = PG_GETARG_TEXT_PP(0);
	relid = PG_GETARG_OID(1);
	if (!PG_ARGISNULL(2))
		newowner = PG_GETARG_OID(2);

	/* the group id, and a read-write transaction (as commit checks them) */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = PointerGetDatum(group_id);
	if (SPI_execute_with_args("SELECT topics._check_group_id($1)", 1, types, values, NULL,
							  false, 0) != SPI_OK_SELECT)
		elog(ERROR, "checking the group id failed");
	SPI_finish();

	/* the caller may read the topic (a lock, so it is not dropped under us) */
	rel = topic_open(relid, AccessShareLock, ACL_SELECT);
	table_close(rel, NoLock);
	groups_relid = topic_extension_relid("consumer_groups");
	if (!OidIsValid(groups_relid))
		elog(ERROR, "table topics.consumer_groups does not exist");

	topic_owner = owns_topic(relid);
	exists = check_owner_change(relid, group_id, newowner, topic_owner, &owner);
	while (!store_group_owner(groups_relid, relid, group_id, newowner, exists, owner))
	{
		if (++attempts >= 10)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("consumer group \"%s\" of topic \"%s\" keeps changing",
							text_to_cstring(group_id), get_rel_name(relid)),
					 errhint("Try again.")));
		/* changed meanwhile: as it is now */
		exists = check_owner_change(relid, group_id, newowner, topic_owner, &owner);
	}
	PG_RETURN_VOID();
}
