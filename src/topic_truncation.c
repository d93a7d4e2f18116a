/*-------------------------------------------------------------------------
 *
 * topic_truncation.c
 *	  Truncation points: the seqs a TRUNCATE leaves, kept where a dump
 *	  carries them.
 *
 * TRUNCATE removes every record of a topic but keeps each partition's next
 * seq, as Kafka's DeleteRecords keeps offsets: a seq is never reused, so a
 * consumer's position, or an offset an application stored elsewhere, never
 * comes to name another record.  A dump carries seqs only through the
 * records it copies, so until 0.12 a partition that a TRUNCATE had left
 * empty came back from a restore at seq 0 (and one with records after the
 * TRUNCATE lost nothing, as its first record's seq starts its log).
 *
 * So a TRUNCATE (topic_note_truncation, from the access method's callbacks)
 * writes every partition's next seq into topics.truncation_points, a
 * configuration table of the extension that pg_dump dumps, and a trigger on
 * that table (topics._restore_truncation_point) raises a restored partition
 * without records to that seq, its log start with it.  pg_restore may load
 * that table before or after the topic's records; either order ends in the
 * same bounds: a partition whose records come later is empty when the row
 * arrives, and its records' seqs are at or past the point; one whose
 * records came first is already past it.
 *
 * The row is written in the TRUNCATE's transaction, so a rolled-back
 * TRUNCATE leaves none.  What a dump still does not carry are seqs that
 * aborted transactions took at a partition's end: no command marks them.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* columns of topics.truncation_points */
#define Anum_tp_topic			1
#define Anum_tp_partition		2
#define Anum_tp_next_seq		3

/* The table, or InvalidOid before the extension's 0.12 (ALTER EXTENSION UPDATE) */
static Oid
truncation_points_relid(void)
{
	return topic_extension_relid("truncation_points");
}

/*
 * Record the next seq of every partition of a topic being truncated: the
 * states carried over to its new storage.  Partitions still at seq 0 need
 * no row.  A later TRUNCATE moves a partition's row up.
 *
 * The row is written as the owner of the table (the role that created the
 * extension): whoever may truncate a topic may record where it stood, but
 * no role may write such rows directly, since the trigger behind them moves
 * a topic's seqs.  search_path is pinned for the statement.
 */
void
topic_note_truncation(Relation rel, const TopicPartitionState *states, int npartitions)
{
	Oid			table = truncation_points_relid();
	Datum	   *parts;
	Datum	   *seqs;
	int			n = 0;
	int			p;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	Oid			argtypes[3] = {REGCLASSOID, INT4ARRAYOID, INT8ARRAYOID};
	Datum		args[3];
	int			rc;

	if (!OidIsValid(table))
		return;

	parts = palloc(sizeof(Datum) * npartitions);
	seqs = palloc(sizeof(Datum) * npartitions);
	for (p = 0; p < npartitions; p++)
	{
		if (states[p].next_seq_base <= 0)
			continue;
		parts[n] = Int32GetDatum(p);
		seqs[n] = Int64GetDatum(states[p].next_seq_base);
		n++;
	}
	if (n == 0)
		return;

	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = PointerGetDatum(construct_array(parts, n, INT4OID, sizeof(int32), true,
											  TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(seqs, n, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(topic_relation_owner(table),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("INSERT INTO topics.truncation_points AS t (topic, partition, next_seq) "
							   "SELECT $1, u.p, u.s FROM unnest($2, $3) AS u(p, s) "
							   "ON CONFLICT (topic, partition) DO UPDATE "
							   "SET next_seq = greatest(t.next_seq, excluded.next_seq), "
							   "truncated_at = excluded.truncated_at",
							   3, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	SPI_finish();

	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

static void
truncation_point_ignored(const char *relname, int32 partition, int sqlstate,
						 const char *why)
{
	ereport(WARNING,
			(errcode(sqlstate),
			 errmsg("truncation point of partition %d of \"%s\" ignored", partition, relname),
			 errdetail_internal("%s", why)));
}

/*
 * AFTER INSERT OR UPDATE trigger of topics.truncation_points: move a
 * partition without records up to the row's next seq.
 *
 * A row that names a relation that is no longer a topic, or a partition it
 * does not have, is left with a warning rather than an error, so that it
 * cannot stop a restore.  So is one above the next seq of a partition that
 * has records: no dump makes that (records after a TRUNCATE have seqs at or
 * past its point), only a row written by hand.  Nothing is done when the
 * partition is already there, as for the row its own TRUNCATE writes.
 */
PG_FUNCTION_INFO_V1(topics_restore_truncation_point);
Datum
topics_restore_truncation_point(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull[3];
	Oid			relid;
	int32		partition;
	int64		next_seq;
	Relation	rel;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("topics._restore_truncation_point() must be fired AFTER INSERT OR UPDATE FOR EACH ROW")));

	/*
	 * Only on topics.truncation_points, which no role but its owner writes:
	 * attached to a table of its own, a role could otherwise move any
	 * topic's seqs, or lock any relation.
	 */
	if (RelationGetRelid(trigdata->tg_relation) != truncation_points_relid())
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("topics._restore_truncation_point() fires only on topics.truncation_points")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	relid = DatumGetObjectId(heap_getattr(tuple, Anum_tp_topic, desc, &isnull[0]));
	partition = DatumGetInt32(heap_getattr(tuple, Anum_tp_partition, desc, &isnull[1]));
	next_seq = DatumGetInt64(heap_getattr(tuple, Anum_tp_next_seq, desc, &isnull[2]));
	if (isnull[0] || isnull[1] || isnull[2])
		elog(ERROR, "null column in topics.truncation_points");

	/*
	 * And only for the table's owner (a TRUNCATE writes as that role; a
	 * restore runs as a superuser) or the topic's: checked before the lock,
	 * which a role must not take on a relation it may not use.
	 */
	if (!has_privs_of_role(GetUserId(), topic_relation_owner(RelationGetRelid(trigdata->tg_relation))) &&
		!pg_class_ownercheck(relid, GetUserId()))
	{
		char	   *relname = get_rel_name(relid);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 relname ?
				 errmsg("permission denied to set a truncation point of \"%s\"", relname) :
				 errmsg("permission denied to set a truncation point of relation with OID %u", relid),
				 errdetail("Only the topic's owner and the owner of topics.truncation_points may."),
				 errhint("TRUNCATE writes the points; a restore runs as a superuser.")));
	}

	rel = try_relation_open(relid, RowExclusiveLock);
	if (rel == NULL)
		return PointerGetDatum(NULL);
	if (!topic_relation_is_topic(rel))
		truncation_point_ignored(RelationGetRelationName(rel), partition,
								 ERRCODE_WRONG_OBJECT_TYPE, "The relation is not a topic.");
	else if (partition < 0 || partition >= topic_get_cache(rel)->npartitions)
		truncation_point_ignored(RelationGetRelationName(rel), partition,
								 ERRCODE_INVALID_PARAMETER_VALUE, "The topic has no such partition.");
	else if (!topic_raise_empty_partition(rel, partition, next_seq))
	{
		TopicPartitionState state;
		int64		next = topic_partition_next_seq(rel, partition, &state);

		if (next < next_seq)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("truncation point " INT64_FORMAT " of partition %d of topic \"%s\" ignored",
							next_seq, partition, RelationGetRelationName(rel)),
					 errdetail("The partition has records, and its next seq " INT64_FORMAT " is below the point.",
							   next),
					 errhint("Only a partition without records is moved up to its truncation point.")));
	}
	relation_close(rel, NoLock);
	return PointerGetDatum(NULL);
}
