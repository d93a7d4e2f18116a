/*-------------------------------------------------------------------------
 *
 * topic_api.c
 *	  SQL-callable functions: produce, produce_batch, fetch, partition
 *	  information, growing a topic, and the DDL guard event triggers.
 *
 * Every function opens the topic by OID (a regclass argument), so renames,
 * search_path and DROP TABLE behave as for any table, and checks the
 * caller's privilege on it: producing needs INSERT, reading needs SELECT.
 * The functions run as the caller (no SECURITY DEFINER).
 *
 * produce and produce_batch append through topic_append directly rather
 * than through the executor; that is why topics refuse triggers, rules,
 * row-level security and CHECK constraints (the guard below): those would
 * apply to INSERT but not to produce.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include <math.h>

#include "utils/attoptcache.h"
#include "storage/lmgr.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/fmgroids.h"
#include "catalog/indexing.h"
#include "access/genam.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "tcop/deparse_utility.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "datatype/timestamp.h"

PG_FUNCTION_INFO_V1(pg_topics_set_partitions);
PG_FUNCTION_INFO_V1(pg_topics_produce);
PG_FUNCTION_INFO_V1(pg_topics_produce_batch);
PG_FUNCTION_INFO_V1(pg_topics_fetch);
PG_FUNCTION_INFO_V1(pg_topics_partition_info);
PG_FUNCTION_INFO_V1(pg_topics_partition_bounds);
PG_FUNCTION_INFO_V1(pg_topics_partition_position);
PG_FUNCTION_INFO_V1(pg_topics_guard_ddl);
PG_FUNCTION_INFO_V1(pg_topics_guard_index);
PG_FUNCTION_INFO_V1(pg_topics_alter_table_change);

/* ------------------------------------------------------------------------
 * Argument helpers
 * ------------------------------------------------------------------------
 */

void
topic_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

static void
topic_not_found(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("topic with OID %u does not exist", relid)));
}

/* Whether a pg_class row is a topic's, without opening the relation */
static bool
class_is_topic(Form_pg_class classform)
{
	Oid			am;

	if (classform->relkind != RELKIND_RELATION || !OidIsValid(classform->relam))
		return false;
	am = topic_am_oid();
	return OidIsValid(am) && classform->relam == am;
}

/*
 * A table of the extension (in schema topics), by name; InvalidOid when
 * there is none of that name, as in an older version of the extension that
 * this library serves.
 */
Oid
topic_extension_relid(const char *name)
{
	Oid			nsp = get_namespace_oid("topics", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * The owner of relation relid: the extension's tables are written as their
 * owner where no role may write them directly (topic_consume.c,
 * topic_truncation.c).
 */
Oid
topic_relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

static void
topic_not_a_topic(const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is not a topic", relname),
			 errhint("Topics are tables that use the topic_log access method; create them with topics.create_topic().")));
}

/*
 * The checks of a relation found, by topic_check_access (in the catalog,
 * before the lock) and topic_open_checked (opened, under it): that it is a
 * topic, and that the current user has "mode" on it (none with
 * ACL_NO_RIGHTS) and owns it, with "owner".  A caller checked for a
 * privilege also needs USAGE on the topic's schema, as a query naming the
 * table does: the functions take a regclass, which an OID gives without
 * looking in the schema (until 0.16 a role with SELECT on a topic in a
 * schema it could not use read it with fetch(16946, ...); a reviewer's
 * finding).  Ownership alone (maintain, alter_topic) does not, as VACUUM
 * and autovacuum do not: an owner that lost USAGE keeps its retention.
 */
static void
topic_check_found(Oid relid, const char *relname, Oid nspid, bool is_topic,
				  AclMode mode, bool owner)
{
	AclResult	aclresult;

	if (!is_topic)
		topic_not_a_topic(relname);
	if (mode != ACL_NO_RIGHTS)
	{
		aclresult = pg_namespace_aclcheck(nspid, GetUserId(), ACL_USAGE);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_SCHEMA, get_namespace_name(nspid));
	}
	aclresult = mode == ACL_NO_RIGHTS ? ACLCHECK_OK : pg_class_aclcheck(relid, GetUserId(), mode);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, relname);
	if (owner && !pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
}

/*
 * Check, without a lock, that relid is a topic and that the current user
 * has "mode" on it (and owns it, with "owner").  A lock request waits in
 * the queue before it is granted, so a strong lock asked for on a relation
 * the caller may not use at all would block that relation's readers (those
 * of pg_authid, say) until the request failed; PostgreSQL's own commands
 * check first for the same reason (RangeVarCallbackOwnsTable).  The
 * callers check again under the lock, which the catalogs may change before.
 */
void
topic_check_access(Oid relid, AclMode mode, bool owner)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class classform;

	if (!HeapTupleIsValid(tuple))
		topic_not_found(relid);
	classform = (Form_pg_class) GETSTRUCT(tuple);
	topic_check_found(relid, NameStr(classform->relname), classform->relnamespace,
					  class_is_topic(classform), mode, owner);
	ReleaseSysCache(tuple);
}

/*
 * Open and lock a topic, then check it as topic_check_access does.  When
 * the lock must be waited for, the topic's name is looked up first: the
 * command holding it may be a DROP TABLE, and the error then names the
 * topic the caller named (until 0.10 it gave only the OID).
 */
static Relation
topic_open_checked(Oid relid, LOCKMODE lockmode, AclMode mode, bool owner)
{
	Relation	rel;
	char	   *relname = NULL;

	if (!ConditionalLockRelationOid(relid, lockmode))
	{
		relname = get_rel_name(relid);
		LockRelationOid(relid, lockmode);
	}
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
	{
		UnlockRelationOid(relid, lockmode);
		if (relname)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("topic \"%s\" does not exist", relname),
					 errdetail("It was dropped while this statement waited for its lock.")));
		topic_not_found(relid);
	}
	topic_check_found(relid, RelationGetRelationName(rel), RelationGetNamespace(rel),
					  rel->rd_rel->relkind == RELKIND_RELATION && topic_relation_is_topic(rel),
					  mode, owner);
	return rel;
}

/*
 * Open a topic, checking that it is one and that the current user has
 * "mode" on it.  The lock is kept until the end of the transaction.  The
 * locks of reading and producing, which PostgreSQL's own SELECT and INSERT
 * take before they check privileges, are taken at once; stronger ones only
 * after topic_check_access.
 */
Relation
topic_open(Oid relid, LOCKMODE lockmode, AclMode mode)
{
	if (lockmode > RowExclusiveLock)
		topic_check_access(relid, mode, false);
	return topic_open_checked(relid, lockmode, mode, false);
}

/*
 * Open a topic for an operation reserved to its owner (changing its shape,
 * removing records), as ALTER TABLE and VACUUM require ownership, and
 * ownership only (until 0.9 also SELECT: an owner who had revoked it from
 * itself got no retention from the maintenance worker, which runs as the
 * owner since then).
 */
Relation
topic_open_owned(Oid relid, LOCKMODE lockmode)
{
	topic_check_access(relid, ACL_NO_RIGHTS, true);
	return topic_open_checked(relid, lockmode, ACL_NO_RIGHTS, true);
}

/* A bytea, text or jsonb argument as the record's value bytes. */
static struct varlena *
value_bytes(Datum d, Oid type)
{
	char	   *s;
	int			len;
	char	   *utf8;
	bytea	   *result;

	if (type == BYTEAOID)
		return (struct varlena *) PG_DETOAST_DATUM_PACKED(d);

	if (type == JSONBOID)
	{
		Jsonb	   *jb = DatumGetJsonbP(d);

		s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		len = strlen(s);
	}
	else
	{
		text	   *t = (text *) PG_DETOAST_DATUM_PACKED(d);

		if (GetDatabaseEncoding() == PG_UTF8)
			return (struct varlena *) t;
		s = VARDATA_ANY(t);
		len = VARSIZE_ANY_EXHDR(t);
	}

	/* values are bytes; text is stored as UTF-8, as a Kafka client would */
	utf8 = pg_server_to_any(s, len, PG_UTF8);
	if (utf8 != s)
		len = strlen(utf8);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), utf8, len);
	return (struct varlena *) result;
}

static void
check_produce_allowed(void)
{
	PreventCommandIfReadOnly("topics.produce()");
	PreventCommandIfParallelMode("topics.produce()");
}

/* Resolve the partition of a record: given, or from its key. */
static int32
record_partition(Relation rel, FunctionCallInfo fcinfo, int argno,
				 struct varlena *key)
{
	if (PG_ARGISNULL(argno))
		return topic_choose_partition(rel, key);
	topic_check_partition(rel, PG_GETARG_INT32(argno));
	return PG_GETARG_INT32(argno);
}

/*
 * Growing a topic, with the transaction.  The partition count lives in the
 * metapage, which changes with WAL but not with the transaction, while the
 * count pg_dump carries (the n_distinct option of column partition, which
 * alter_topic sets in the same transaction) rolls back: until 0.9 a rolled
 * back alter_topic left the topic with its new partitions and the catalog
 * with the old count, and a dump then could not restore the records of the
 * new partitions.  Now the metapage grows when the transaction commits
 * (XACT_EVENT_PRE_COMMIT, still under the ACCESS EXCLUSIVE lock taken to
 * grow it), so a rollback leaves nothing to undo.  A topic created or
 * truncated in this transaction has storage that a rollback discards: it
 * grows at once (create_topic, and a restore, produce into it right away).
 * Until the commit the new partitions cannot be produced to.
 */
typedef struct PendingGrowth
{
	Oid			relid;
	int			npartitions;
	SubTransactionId subid;
} PendingGrowth;

static List *pending_growth = NIL;	/* in TopTransactionContext */
static bool growth_callbacks = false;

static void
growth_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			foreach(lc, pending_growth)
			{
				PendingGrowth *g = lfirst(lc);
				Relation	rel = try_relation_open(g->relid, NoLock);

				if (rel == NULL)
					continue;	/* dropped since */
				/* the largest count asked for in the transaction */
				if (g->npartitions == topic_partitions_at_commit(rel) &&
					g->npartitions > topic_get_cache(rel)->npartitions)
					topic_set_partitions(rel, g->npartitions, true);
				relation_close(rel, NoLock);
			}
			pending_growth = NIL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (pending_growth != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that added partitions to a topic")));
			break;
		default:
			pending_growth = NIL;
			break;
	}
}

static void
growth_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	foreach(lc, pending_growth)
	{
		PendingGrowth *g = lfirst(lc);

		if (g->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			g->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			pending_growth = foreach_delete_current(pending_growth, lc);
	}
}

/* The partition count rel will have at commit: pending growth included. */
int
topic_partitions_at_commit(Relation rel)
{
	int			n = topic_get_cache(rel)->npartitions;
	ListCell   *lc;

	foreach(lc, pending_growth)
	{
		PendingGrowth *g = lfirst(lc);

		if (g->relid == RelationGetRelid(rel))
			n = Max(n, g->npartitions);
	}
	return n;
}

void
topic_grow_partitions(Relation rel, int npartitions)
{
	MemoryContext old;
	PendingGrowth *g;
	SubTransactionId subid = GetCurrentSubTransactionId();

	/*
	 * Storage made in this very subtransaction goes away with it, so it
	 * grows at once; storage made earlier in the transaction would keep a
	 * growth that a rollback to a savepoint undoes in the catalog.
	 */
	if (rel->rd_createSubid == subid || rel->rd_firstRelfilenodeSubid == subid)
	{
		topic_set_partitions(rel, npartitions, false);
		return;
	}
	/* the checks of topic_set_partitions, now rather than at the commit */
	topic_check_partition_count(rel, topic_partitions_at_commit(rel), npartitions);
	if (!growth_callbacks)
	{
		RegisterXactCallback(growth_xact_callback, NULL);
		RegisterSubXactCallback(growth_subxact_callback, NULL);
		growth_callbacks = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	g = palloc(sizeof(PendingGrowth));
	g->relid = RelationGetRelid(rel);
	g->npartitions = npartitions;
	g->subid = subid;
	pending_growth = lappend(pending_growth, g);
	MemoryContextSwitchTo(old);
}

/* ------------------------------------------------------------------------
 * Topic shape
 * ------------------------------------------------------------------------
 */

Datum
pg_topics_set_partitions(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int32		npartitions = PG_GETARG_INT32(1);
	Relation	rel;

	rel = topic_open_owned(relid, AccessExclusiveLock);
	if (npartitions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition count must be at least 1"),
				 errdetail("%d partitions were requested.", npartitions)));
	topic_grow_partitions(rel, npartitions);
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Producing
 * ------------------------------------------------------------------------
 */

static void
put_produce_result(ReturnSetInfo *rsinfo, int32 partition, int64 seq)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Int32GetDatum(partition);
	values[1] = Int64GetDatum(seq);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * produce(topic, key, value bytea|text|jsonb, headers, partition)
 */
Datum
pg_topics_produce(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			valtype = get_fn_expr_argtype(fcinfo->flinfo, 2);
	Relation	rel;
	TopicNewRecord rec;

	topic_require_arg(fcinfo, 0, "topic");
	check_produce_allowed();
	rel = topic_open(PG_GETARG_OID(0), RowExclusiveLock, ACL_INSERT);

	memset(&rec, 0, sizeof(rec));
	rec.key = PG_ARGISNULL(1) ? NULL : (struct varlena *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));
	rec.value = PG_ARGISNULL(2) ? NULL : value_bytes(PG_GETARG_DATUM(2), valtype);
	rec.headers = PG_ARGISNULL(3) ? NULL : (struct varlena *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(3));
	rec.partition = record_partition(rel, fcinfo, 4, rec.key);
	rec.seq = -1;
	topic_record_prepare(rel, &rec);

	topic_append(rel, &rec, 1, GetCurrentCommandId(true));
	pgstat_count_heap_insert(rel, 1);
	table_close(rel, NoLock);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	put_produce_result(rsinfo, rec.partition, rec.seq);
	return (Datum) 0;
}

static void
deconstruct_arg_array(FunctionCallInfo fcinfo, int argno, const char *name,
					  Oid elemtype, Datum **elems, bool **nulls, int *n)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(argno);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, elems, nulls, n);
}

/*
 * produce_batch(topic, keys text[], values bytea[]|text[], headers jsonb[],
 *				 partition): one result row per record, in input order.
 */
Datum
pg_topics_produce_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			valtype = get_element_type(get_fn_expr_argtype(fcinfo->flinfo, 2));
	Relation	rel;
	Datum	   *keys,
			   *vals,
			   *hdrs = NULL;
	bool	   *keynulls,
			   *valnulls,
			   *hdrnulls = NULL;
	int			nkeys,
				nvals,
				nhdrs = 0;
	TopicNewRecord *recs;
	int			i;

	topic_require_arg(fcinfo, 0, "topic");
	topic_require_arg(fcinfo, 1, "keys");
	topic_require_arg(fcinfo, 2, "values");
	check_produce_allowed();
	rel = topic_open(PG_GETARG_OID(0), RowExclusiveLock, ACL_INSERT);

	deconstruct_arg_array(fcinfo, 1, "keys", TEXTOID, &keys, &keynulls, &nkeys);
	deconstruct_arg_array(fcinfo, 2, "values", valtype, &vals, &valnulls, &nvals);
	if (!PG_ARGISNULL(3))
		deconstruct_arg_array(fcinfo, 3, "headers", JSONBOID, &hdrs, &hdrnulls, &nhdrs);
	if (nkeys != nvals || (hdrs != NULL && nhdrs != nkeys))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("keys, values and headers must have the same number of elements"),
				 hdrs ? errdetail("keys has %d, values has %d and headers has %d.",
								  nkeys, nvals, nhdrs) :
				 errdetail("keys has %d and values has %d.", nkeys, nvals),
				 errhint("Pass NULL elements for records without a key or value.")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (nkeys == 0)
	{
		table_close(rel, NoLock);
		return (Datum) 0;
	}

	recs = palloc0(sizeof(TopicNewRecord) * nkeys);
	for (i = 0; i < nkeys; i++)
	{
		TopicNewRecord *rec = &recs[i];

		rec->key = keynulls[i] ? NULL : (struct varlena *) PG_DETOAST_DATUM_PACKED(keys[i]);
		rec->value = valnulls[i] ? NULL : value_bytes(vals[i], valtype);
		rec->headers = (hdrs == NULL || hdrnulls[i]) ? NULL :
			(struct varlena *) PG_DETOAST_DATUM_PACKED(hdrs[i]);
		rec->partition = record_partition(rel, fcinfo, 4, rec->key);
		rec->seq = -1;
		topic_record_prepare(rel, rec);
	}

	topic_append(rel, recs, nkeys, GetCurrentCommandId(true));
	pgstat_count_heap_insert(rel, nkeys);
	table_close(rel, NoLock);

	for (i = 0; i < nkeys; i++)
		put_produce_result(rsinfo, recs[i].partition, recs[i].seq);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------
 */

/*
 * Record callback: collect up to max_records / max_bytes.  The first record
 * is always taken, even when larger than max_bytes, so a consumer always
 * makes progress.
 */
bool
topic_collect_record(const TopicRecord *rec, void *arg)
{
	TopicCollectState *cs = (TopicCollectState *) arg;
	Datum		values[Natts_topic];
	bool		nulls[Natts_topic];
	Size		sz;

	if (cs->count >= cs->max_records)
		return false;
	sz = topic_record_payload_size(rec);
	if (cs->max_bytes >= 0 && cs->count > 0 && cs->bytes + (int64) sz > cs->max_bytes)
		return false;

	topic_record_values(rec, values, nulls);
	tuplestore_putvalues(cs->tupstore, cs->tupdesc, values, nulls);
	cs->count++;
	cs->bytes += sz;
	cs->last_seq = rec->seq;
	cs->last_ts = rec->ts;
	return true;
}

/*
 * Check a read position against the partition: it must be between the log
 * start and the next seq (Kafka's OffsetOutOfRange otherwise, with a
 * SQLSTATE of its own since 0.14; 22023 before).
 */
void
topic_check_read_position(Relation rel, int32 partition, int64 seq)
{
	TopicPartitionState state;
	int64		next = topic_partition_next_seq(rel, partition, &state);

	if (seq < state.log_start_seq || seq > next)
		ereport(ERROR,
				(errcode(ERRCODE_TOPIC_OFFSET_OUT_OF_RANGE),
				 errmsg("seq " INT64_FORMAT " is out of range for partition %d of topic \"%s\"",
						seq, partition, RelationGetRelationName(rel)),
				 errdetail("The partition holds seqs from " INT64_FORMAT " (log start) up to " INT64_FORMAT " (next seq).",
						   state.log_start_seq, next),
				 errhint("Read from a seq between log_start_seq and next_seq of topics.partitions.")));
}

/*
 * fetch(topic, partition, from_seq, max_records, max_bytes): records in seq
 * order, stopping before the first one whose transaction is in progress for
 * the caller's snapshot (the last stable offset), skipping aborted ones.
 */
Datum
pg_topics_fetch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[TOPIC_FETCH_NARGS];
	bool		nulls[TOPIC_FETCH_NARGS];
	TopicFetchArgs args;
	Relation	rel;
	TopicCollectState cs;
	int			i;

	for (i = 0; i < TOPIC_FETCH_NARGS; i++)
	{
		values[i] = PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i);
	}
	topic_fetch_check_args(values, nulls, &args);
	rel = topic_fetch_open(&args);

	memset(&cs, 0, sizeof(cs));
	cs.max_records = args.max_records;
	cs.max_bytes = args.max_bytes;
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	cs.tupstore = rsinfo->setResult;
	cs.tupdesc = rsinfo->setDesc;
	(void) topic_read_wait(rel, args.partition, args.from_seq, args.wait_ms, false,
						   topic_collect_record, &cs, &cs.count);
	table_close(rel, NoLock);
	return (Datum) 0;
}

/* The start and count of a read, as fetch() and _consume_partition() take them. */
void
topic_check_read_range(int64 from_seq, int32 max_records)
{
	if (from_seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_seq must not be negative")));
	if (max_records < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_records must be at least 1")));
}

/*
 * Check the arguments of fetch(topic, partition, from_seq, max_records,
 * max_bytes, wait), for the function and for the TopicFetch scan that
 * stands in for it (topic_fetchscan.c), so both fail alike.
 */
void
topic_fetch_check_args(const Datum *values, const bool *nulls, TopicFetchArgs *args)
{
	static const char *const names[] = {"topic", "partition", "from_seq", "max_records"};
	int			i;

	for (i = 0; i < lengthof(names); i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
	args->relid = DatumGetObjectId(values[0]);
	args->partition = DatumGetInt32(values[1]);
	args->from_seq = DatumGetInt64(values[2]);
	args->max_records = DatumGetInt32(values[3]);
	args->max_bytes = -1;
	topic_check_read_range(args->from_seq, args->max_records);
	if (!nulls[4])
	{
		args->max_bytes = DatumGetInt32(values[4]);
		if (args->max_bytes < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_bytes must be at least 1"),
					 errhint("Pass NULL for no byte limit.")));
	}
	if (nulls[5])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("wait must not be null")));
	args->wait_ms = topic_interval_ms(DatumGetIntervalP(values[5]), "wait");
}

/* Open the topic of checked fetch arguments and check the read position. */
Relation
topic_fetch_open(const TopicFetchArgs *args)
{
	Relation	rel = topic_open(args->relid, AccessShareLock, ACL_SELECT);

	topic_check_partition(rel, args->partition);
	topic_check_read_position(rel, args->partition, args->from_seq);
	return rel;
}

/* ------------------------------------------------------------------------
 * Partition information
 * ------------------------------------------------------------------------
 */

static void
set_stable_hint(TopicPartitionState *state, void *arg)
{
	state->stable_hint = *(BlockNumber *) arg;
}

/*
 * Pin where the walk of partition_last_stable starts, the stable hint or
 * (from_head, or without a hint) the head, while holding the state page;
 * InvalidBuffer when the partition has no page.  *used_head says which.
 */
static Buffer
pin_stable_start(Relation rel, int32 partition, bool from_head, BlockNumber *old_hint,
				 bool *used_head)
{
	int			idx;
	Buffer		statebuf = topic_lock_state_page(rel, partition, BUFFER_LOCK_SHARE, &idx);
	TopicPartitionState *st = topic_state_ptr(BufferGetPage(statebuf), idx);
	BlockNumber start;
	Buffer		buf;

	*used_head = from_head || !BlockNumberIsValid(st->stable_hint);
	start = *used_head ? st->head : st->stable_hint;
	buf = BlockNumberIsValid(start) ? ReadBuffer(rel, start) : InvalidBuffer;
	*old_hint = st->stable_hint;
	UnlockReleaseBuffer(statebuf);
	return buf;
}

/*
 * The page where the walk starts, pinned, checked to be the one the state
 * still names.  Pinning it under the state page does not stop retention:
 * retention may already hold the page's cleanup lock (taken while nobody
 * pinned it), free it once it has the state page, and a producer may then
 * reuse it as a new tail.  So, with the page share-locked, the state is read
 * again: when the page is no longer a data page of the partition, or no
 * longer the hint or the head it was taken as, the walk starts again from
 * the head (through dd13b58 the walk failed with "invalid data page" there,
 * which the soak made likely once it ran VACUUM FULL, which leaves no hint,
 * so that walks start at the head, where retention works).
 * Once checked, the pin keeps it: retention frees only unpinned pages, and
 * producers reuse only freed ones (not on a standby: see
 * partition_last_stable).  Returned unlocked, with its first seq.
 */
static Buffer
stable_start(Relation rel, int32 partition, BlockNumber *old_hint, int64 *first_seq)
{
	bool		from_head = false;

	for (;;)
	{
		bool		used_head;
		Buffer		buf = pin_stable_start(rel, partition, from_head, old_hint, &used_head);
		TopicPartitionState st;
		BlockNumber blkno;

		if (!BufferIsValid(buf))
			return InvalidBuffer;
		blkno = BufferGetBlockNumber(buf);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		if (topic_page_is_data_of(BufferGetPage(buf), partition))
		{
			/* data page, then state page: the lock order */
			topic_get_state(rel, partition, &st);
			if (blkno == (used_head ? st.head : st.stable_hint))
			{
				*first_seq = TopicPageGetOpaque(BufferGetPage(buf))->first_seq;
				LockBuffer(buf, BUFFER_LOCK_UNLOCK);
				return buf;
			}
		}
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
		from_head = true;
	}
}

/*
 * On a standby, whether the page partition_last_stable has pinned (and now
 * share-locked) is still the one it came to: replay frees and reuses pages
 * whatever a standby has pinned, as the primary cannot see those pins.  The
 * first page must still start at the seq stable_start saw; a later one must
 * be a data page of the partition holding the seq after the previous page
 * (or, after a gap of explicit seqs, start past it with nothing removed
 * there), as for readers (topic_lock_live_page).
 */
static bool
standby_page_live(Relation rel, Page page, int32 partition, int64 expect, bool first)
{
	if (first)
		return topic_page_is_data_of(page, partition) &&
			TopicPageGetOpaque(page)->first_seq == expect;
	return topic_page_is_live(rel, page, partition, expect);
}

/*
 * Whether the running record "item" is of a transaction older than
 * older_than, other than ours (whose records are visible to it).
 */
static bool
record_running_before(char *item, TransactionId older_than)
{
	TransactionId xmin;

	memcpy(&xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
	return TransactionIdPrecedes(xmin, older_than) &&
		!TransactionIdIsCurrentTransactionId(xmin);
}

/*
 * The last stable offset: the seq of the first record whose transaction is
 * still running, or next_seq when there is none.  The walk starts at the
 * partition's stable_hint and moves the hint past full pages whose records
 * are all finished, so repeated calls only read the recent pages.
 *
 * The walk holds a pin at every step: the first page once stable_start has
 * checked it against the state, and each next page before the current one
 * is released.  Retention frees only unpinned pages, head first, and moves
 * the hint past a page in the same WAL record that frees it, so no page of
 * the walk can be freed and reused for newer records under it (which would
 * make it skip running transactions and report too high an offset), and
 * the new hint, pinned until it is stored, is never a freed page.  A
 * standby's pins do not hold replay back: there each page is checked under
 * its lock (standby_page_live) and the walk starts again when one was
 * freed or reused (-1 here; topic_partition_last_stable retries), and the
 * hint is not stored.
 *
 * With a valid older_than only the running records of transactions older
 * than it count (topic_partition_running_before); the hint still stops at
 * the first running record of any transaction.
 */
static int64
partition_last_stable(Relation rel, int32 partition, int64 next, TransactionId older_than)
{
	BlockNumber old_hint;
	int64		expect;
	Buffer		buf = stable_start(rel, partition, &old_hint, &expect);
	Buffer		hintbuf;
	bool		advancing = true;
	bool		standby = RecoveryInProgress();
	bool		first = true;
	int64		result = next;
	XLogRecPtr	passed_lsn = InvalidXLogRecPtr;

	if (!BufferIsValid(buf))
		return result;
	hintbuf = buf;
	IncrBufferRefCount(hintbuf);

	while (BufferIsValid(buf))
	{
		Page		page;
		TopicPageOpaque opaque;
		OffsetNumber maxoff;
		OffsetNumber off;
		BlockNumber nextblk;
		Buffer		nextbuf = InvalidBuffer;
		bool		found = false;
		bool		whole = true;	/* every record of the page looked at */
		bool		passed = false; /* records that are no one's to read */
		bool		running = false;	/* a running record that did not count */
		bool		page_unflushed;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (standby && !standby_page_live(rel, page, partition, expect, first))
		{
			/* replay freed or reused it under our pin: walk again */
			UnlockReleaseBuffer(buf);
			ReleaseBuffer(hintbuf);
			return -1;
		}
		if (!topic_page_is_data_of(page, partition))
			topic_not_data_page(rel, page, BufferGetBlockNumber(buf), partition);
		opaque = TopicPageGetOpaque(page);
		maxoff = PageGetMaxOffsetNumber(page);
		expect = opaque->first_seq + maxoff;
		first = false;
		page_unflushed = topic_page_unflushed(buf);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			int64		seq = opaque->first_seq + off - 1;

			if (seq >= next)
			{
				whole = false;	/* appended since next_seq was read */
				break;
			}
			if (!ItemIdIsNormal(itemid))
				passed |= ItemIdIsDead(itemid);
			else
			{
				char	   *item = (char *) PageGetItem(page, itemid);
				TopicRecordStatus status = topic_record_status_now(buf, item);

				if (status == TREC_IN_PROGRESS)
				{
					if (!TransactionIdIsValid(older_than) ||
						record_running_before(item, older_than))
					{
						result = seq;
						found = true;
						break;
					}
					running = true; /* not one that counts, but it stops the hint */
				}
				passed |= status == TREC_ABORTED;
				if (status == TREC_VISIBLE)
					passed_lsn = Max(passed_lsn,
									 topic_record_commit_unflushed(buf, item, page_unflushed));
			}
		}
		if (passed)
			passed_lsn = Max(passed_lsn, BufferGetLSNAtomic(buf));
		nextblk = opaque->next;
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		/* nothing after the first running record, or past next_seq, counts */
		if (!found && whole && BlockNumberIsValid(nextblk))
			nextbuf = ReadBuffer(rel, nextblk);

		/*
		 * A full page whose records all finished: the hint moves past it
		 * (not past one with records appended after next_seq was read: those
		 * were not looked at and may still be running).
		 */
		if (advancing && !running && BufferIsValid(nextbuf))
		{
			ReleaseBuffer(hintbuf);
			hintbuf = nextbuf;
			IncrBufferRefCount(hintbuf);
		}
		else
			advancing = false;
		ReleaseBuffer(buf);
		buf = nextbuf;
	}

	if (BufferIsValid(hintbuf))
	{
		BlockNumber hint = BufferGetBlockNumber(hintbuf);

		/* a standby reads the primary's hint and stores none */
		if (hint != old_hint && !standby)
			topic_update_state(rel, partition, set_stable_hint, &hint);
		ReleaseBuffer(hintbuf);
	}
	/* the offset is past them: see topic_flush_passed */
	topic_flush_passed(passed_lsn);
	return result;
}


/*
 * The last stable offset of a partition whose next seq is "next" (Kafka's
 * LSO: where a read_committed reader's "latest" is).  On a hot standby the
 * walk asks the standby's view of the primary's running transactions, as
 * its readers do; through 15c9fc6 it returned next there.
 */
int64
topic_partition_last_stable(Relation rel, int32 partition, int64 next)
{
	for (;;)
	{
		int64		result = partition_last_stable(rel, partition, next,
												   InvalidTransactionId);

		if (result >= 0)
			return result;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Whether a transaction that started before older_than and is still running
 * (not our own) appended to the partition before seq: the same walk, in
 * which only such records count.  For the transactions prepared before the
 * open-producer registry began, which it does not know (topic_producers.c).
 * Records of other running transactions stop the hint as they always do.
 * Only for a primary.
 */
bool
topic_partition_running_before(Relation rel, int32 partition, int64 seq,
							   TransactionId older_than)
{
	Assert(TransactionIdIsValid(older_than) && !RecoveryInProgress());
	return partition_last_stable(rel, partition, seq, older_than) < seq;
}

Datum
pg_topics_partition_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel = topic_open(PG_GETARG_OID(0), AccessShareLock, ACL_SELECT);
	int			npartitions = topic_get_cache(rel)->npartitions;
	int			p;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (p = 0; p < npartitions; p++)
	{
		TopicPartitionState state;
		int64		next = topic_partition_next_seq(rel, p, &state);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int32GetDatum(p);
		values[1] = Int64GetDatum(state.log_start_seq);
		values[2] = Int64GetDatum(next);
		values[3] = Int64GetDatum(topic_partition_last_stable(rel, p, next));
		values[4] = Int64GetDatum(next - state.log_start_seq);
		values[5] = Int64GetDatum((int64) state.npages * BLCKSZ);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	table_close(rel, NoLock);
	return (Datum) 0;
}

/*
 * partition_bounds(topic): per partition the log start and next seq only,
 * cheap enough for consume to call on every poll.
 */
Datum
pg_topics_partition_bounds(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel = topic_open(PG_GETARG_OID(0), AccessShareLock, ACL_SELECT);
	int			npartitions = topic_get_cache(rel)->npartitions;
	int			p;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (p = 0; p < npartitions; p++)
	{
		TopicPartitionState state;
		int64		next = topic_partition_next_seq(rel, p, &state);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(p);
		values[1] = Int64GetDatum(state.log_start_seq);
		values[2] = Int64GetDatum(next);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	table_close(rel, NoLock);
	return (Datum) 0;
}

/*
 * _partition_position(topic, partition, OUT next_seq, OUT partitions): one
 * partition's next seq (NULL when the topic has no such partition) and the
 * partition count, for commit(), which read partition_bounds for both until
 * 0.13: a commit cost a read of every partition's state (7.5-16 ms with
 * 10000 partitions).
 */
Datum
pg_topics_partition_position(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Relation	rel;
	int32		partition;
	int			npartitions;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	topic_require_arg(fcinfo, 0, "topic");
	topic_require_arg(fcinfo, 1, "partition");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	partition = PG_GETARG_INT32(1);
	rel = topic_open(PG_GETARG_OID(0), AccessShareLock, ACL_SELECT);
	npartitions = topic_get_cache(rel)->npartitions;
	if (partition >= 0 && partition < npartitions)
	{
		TopicPartitionState state;

		values[0] = Int64GetDatum(topic_partition_next_seq(rel, partition, &state));
	}
	else
		nulls[0] = true;
	values[1] = Int32GetDatum(npartitions);
	table_close(rel, NoLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The partition count is also kept as the n_distinct option of the
 * partition column (create_topic and alter_topic set it; it is also the
 * planner's exact number of distinct partitions).  pg_dump writes attribute
 * options right after CREATE TABLE, so a restore grows the new topic to its
 * partition count before the records are loaded.  Fewer is ignored: the
 * count only grows.
 */
static void
topic_sync_partition_count(Relation rel)
{
	AttributeOpts *opts = get_attribute_options(RelationGetRelid(rel), Anum_topic_partition);
	int			current = topic_get_cache(rel)->npartitions;
	float8		want;

	if (opts == NULL)
		return;
	want = opts->n_distinct;
	if (want <= current || want > TOPIC_MAX_PARTITIONS || want != floor(want))
		return;
	if (!pg_class_ownercheck(RelationGetRelid(rel), GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	/* like alter_topic: no producer or reader may see the shape change */
	LockRelationOid(RelationGetRelid(rel), AccessExclusiveLock);
	topic_grow_partitions(rel, (int) want);
}

/* ------------------------------------------------------------------------
 * DDL guard
 * ------------------------------------------------------------------------
 */

/*
 * The n_distinct option of column partition is the partition count a dump
 * carries (the restore's ALTER TABLE sets it, and topic_sync_partition_count
 * grows the new topic to it).  Resetting or lowering it, an ordinary
 * planner setting on any other table, made the dump of a topic restore
 * fewer partitions, and their records failed to load (until 0.9).
 */
static void
check_carried_count(Relation rel)
{
	AttributeOpts *opts = get_attribute_options(RelationGetRelid(rel), Anum_topic_partition);
	float8		carried = (opts && opts->n_distinct != 0) ? opts->n_distinct : 1;
	int			current = topic_partitions_at_commit(rel);

	if (carried < current || carried != floor(carried) || carried > TOPIC_MAX_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid n_distinct for column \"partition\" of topic \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("It is the partition count pg_dump carries: the topic's count, %d, or a larger whole number up to %d.",
						   current, TOPIC_MAX_PARTITIONS),
				 errhint("Add partitions with topics.alter_topic(); a topic cannot have fewer.")));
}

/* Every ancestor of relid in inheritance trees, nearest first. */
static List *
guard_ancestors(Oid relid)
{
	List	   *result = NIL;
	List	   *todo = list_make1_oid(relid);

	while (todo != NIL)
	{
		Oid			child = linitial_oid(todo);
		Relation	inh = table_open(InheritsRelationId, AccessShareLock);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		todo = list_delete_first(todo);
		ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(child));
		scan = systable_beginscan(inh, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
		while ((tup = systable_getnext(scan)) != NULL)
		{
			Oid			parent = ((Form_pg_inherits) GETSTRUCT(tup))->inhparent;

			if (!list_member_oid(result, parent))
			{
				result = lappend_oid(result, parent);
				todo = lappend_oid(todo, parent);
			}
		}
		systable_endscan(scan);
		table_close(inh, AccessShareLock);
	}
	return result;
}

/*
 * The error for a command that would give a topic something it refuses (a
 * column rename, a trigger, a rule, a policy), on the topic the command
 * names.
 */
static void
guard_refused(Relation rel, Node *parsetree)
{
	const char *relname = RelationGetRelationName(rel);

	if (IsA(parsetree, RenameStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot rename columns of topic \"%s\"", relname),
				 errdetail("A topic has the fixed columns partition, seq, ts, key, value and headers.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 IsA(parsetree, CreateTrigStmt) ?
			 errmsg("cannot create triggers on topic \"%s\"", relname) :
			 IsA(parsetree, RuleStmt) ?
			 errmsg("cannot create rules on topic \"%s\"", relname) :
			 errmsg("cannot create row-level security policies on topic \"%s\"", relname),
			 errdetail("Records are produced by topics.produce() without the executor, "
					   "so per-row rules, triggers and policies would not apply consistently."),
			 errhint("Consume the topic with topics.fetch() to react to new records.")));
}

/*
 * What a topic may not have after a command (see pg_topics_guard_ddl);
 * "refused" when the command named it to give it something it refuses.
 */
static void
guard_topic(Relation rel, Node *parsetree, bool refused)
{
	if (refused)
		guard_refused(rel, parsetree);
	if (!topic_tupdesc_matches(RelationGetDescr(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the columns of topic \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("A topic has exactly the columns (partition integer, seq bigint, ts timestamptz, "
						   "key text, value bytea, headers jsonb), without NOT NULL constraints or defaults."),
				 errhint("Put extra attributes in the record's headers.")));
	if (rel->rd_rel->relrowsecurity)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("row-level security is not supported on topic \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("Control access with GRANT on the topic.")));
	if (rel->rd_rel->relchecks > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("check constraints are not supported on topic \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("topics.produce() does not evaluate constraints."),
				 errhint("Validate records before producing them.")));
	if (has_superclass(RelationGetRelid(rel)) || rel->rd_rel->relhassubclass)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("topic \"%s\" cannot be part of an inheritance tree or a partitioned table",
						RelationGetRelationName(rel)),
				 errdetail("Records are produced by topics.produce() without the executor, so a parent's "
						   "columns, constraints, triggers and partition bounds would not apply to them."),
				 errhint("Keep topics as tables of their own, and combine them in queries with UNION ALL.")));
	if (rel->trigdesc != NULL && rel->trigdesc->numtriggers > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("triggers and foreign keys are not supported on topic \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("Records are produced by topics.produce() without the executor, "
						   "so triggers, and the checks of foreign keys, would not apply to them."),
				 errhint("Validate records before producing them.")));
}

/*
 * Event trigger at ddl_command_end: keep topics in the shape the access
 * method and the produce functions rely on.  Raising an error here rolls
 * the DDL back.
 */
Datum
pg_topics_guard_ddl(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;
	RangeVar   *rv = NULL;
	bool		refused = false;	/* gives a topic something it refuses */
	Oid			relid;
	List	   *relids;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s can only be called by an event trigger",
						"topics._guard_ddl()")));
	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;

	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			rv = ((AlterTableStmt *) parsetree)->relation;
			break;
		case T_CreateStmt:
			rv = ((CreateStmt *) parsetree)->relation;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN)
			{
				rv = ((RenameStmt *) parsetree)->relation;
				refused = true;
			}
			break;
		case T_CreateTrigStmt:
			rv = ((CreateTrigStmt *) parsetree)->relation;
			refused = true;
			break;
		case T_RuleStmt:
			rv = ((RuleStmt *) parsetree)->relation;
			refused = true;
			break;
		case T_CreatePolicyStmt:
			rv = ((CreatePolicyStmt *) parsetree)->table;
			refused = true;
			break;
		default:
			break;
	}
	if (rv == NULL)
		PG_RETURN_VOID();

	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		PG_RETURN_VOID();

	/*
	 * The relation the command names, and every relation of its inheritance
	 * tree: an ALTER TABLE, a column rename or a trigger on a parent or a
	 * partitioned table reaches its children and partitions, and until 0.9
	 * the guard looked at the named one only (a column added to a parent
	 * reached a topic under it, and reading it crashed the backend).
	 */
	relids = find_all_inheritors(relid, NoLock, NULL);
	relids = list_concat_unique_oid(relids, guard_ancestors(relid));
	foreach(lc, relids)
	{
		Relation	rel = try_relation_open(lfirst_oid(lc), NoLock);

		if (rel == NULL)
			continue;
		if (rel->rd_rel->relkind == RELKIND_RELATION && topic_relation_is_topic(rel))
		{
			guard_topic(rel, parsetree, refused && lfirst_oid(lc) == relid);
			if (IsA(parsetree, AlterTableStmt) && lfirst_oid(lc) == relid)
			{
				topic_sync_partition_count(rel);
				check_carried_count(rel);
			}

			/*
			 * A new topic starts with one partition, unless it is taken
			 * for the transient table of a rewrite (topic_rewrite_source),
			 * which a user can stage; a count a dump would not carry is
			 * refused then.
			 */
			if (IsA(parsetree, CreateStmt) && lfirst_oid(lc) == relid)
				check_carried_count(rel);
		}
		relation_close(rel, NoLock);
	}
	PG_RETURN_VOID();
}

/*
 * CREATE INDEX on a topic is refused before it starts.  The access method's
 * index build refuses too, but CREATE INDEX CONCURRENTLY commits the
 * index's catalog entry before it builds, and the failed build left an
 * invalid index behind that made every later VACUUM FULL and REINDEX of the
 * topic fail until it was dropped (until 0.10).  The hook is in place once
 * the library is loaded: always with pg_topics in shared_preload_libraries.
 */
static ProcessUtility_hook_type prev_guard_process_utility = NULL;

static void
guard_index_stmt(IndexStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	HeapTuple	tuple = OidIsValid(relid) ?
		SearchSysCache1(RELOID, ObjectIdGetDatum(relid)) : NULL;

	if (HeapTupleIsValid(tuple))
	{
		Form_pg_class classform = (Form_pg_class) GETSTRUCT(tuple);
		bool		is_topic = class_is_topic(classform);
		char	   *relname = pstrdup(NameStr(classform->relname));

		ReleaseSysCache(tuple);
		if (is_topic)
			topic_indexes_unsupported(relname);
	}
}

/*
 * Event trigger at ddl_command_start for CREATE INDEX (since 0.11): the same
 * check, in sessions that have not loaded the library yet (without the
 * preload), where the hook is not in place when the command starts.
 */
Datum
pg_topics_guard_index(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s can only be called by an event trigger",
						"topics._guard_index()")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (IsA(trigdata->parsetree, IndexStmt))
		guard_index_stmt((IndexStmt *) trigdata->parsetree);
	PG_RETURN_VOID();
}

static void
topic_guard_process_utility(PlannedStmt *pstmt, const char *queryString,
							bool readOnlyTree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *queryEnv,
							DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, IndexStmt))
		guard_index_stmt((IndexStmt *) parsetree);
	if (prev_guard_process_utility)
		prev_guard_process_utility(pstmt, queryString, readOnlyTree, context,
								   params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* Called from _PG_init. */
void
topic_guard_init(void)
{
	prev_guard_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = topic_guard_process_utility;
}

/*
 * What an ALTER TABLE reported to an event trigger did, for the guard that
 * keeps topics out of logical replication's publications
 * (topics._guard_publication, PL/pgSQL).  A topic comes under a FOR TABLES
 * IN SCHEMA or FOR ALL TABLES publication without a publication command
 * when it is created, moved into a published schema (ALTER TABLE ... SET
 * SCHEMA) or made from a table (ALTER TABLE ... SET ACCESS METHOD
 * topic_log).  The last two share the tag ALTER TABLE with every other
 * change to a table, such as the n_distinct option alter_topic sets, which
 * must not warn again and again; which one it was is only in the command's
 * parse tree, handed over by pg_event_trigger_ddl_commands() as an opaque
 * pg_ddl_command.  That type has no input (its input function always
 * fails), so the only values this can be given are the ones PostgreSQL
 * collected for the running event trigger.
 *
 * topics._alter_table_change(command pg_ddl_command) returns text:
 * 'schema' for ALTER TABLE ... SET SCHEMA, 'access method' for an ALTER
 * TABLE with a SET ACCESS METHOD subcommand, NULL for anything else.
 */
Datum
pg_topics_alter_table_change(PG_FUNCTION_ARGS)
{
	CollectedCommand *cmd = (CollectedCommand *) PG_GETARG_POINTER(0);
	ListCell   *lc;

	switch (cmd->type)
	{
		case SCT_Simple:
			if (cmd->parsetree && IsA(cmd->parsetree, AlterObjectSchemaStmt))
				PG_RETURN_TEXT_P(cstring_to_text("schema"));
			break;
		case SCT_AlterTable:
			foreach(lc, cmd->d.alterTable.subcmds)
			{
				CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(lc);

				if (sub->parsetree && IsA(sub->parsetree, AlterTableCmd) &&
					((AlterTableCmd *) sub->parsetree)->subtype == AT_SetAccessMethod)
					PG_RETURN_TEXT_P(cstring_to_text("access method"));
			}
			break;
		default:
			break;
	}
	PG_RETURN_NULL();
}
