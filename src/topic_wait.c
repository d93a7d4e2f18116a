/*-------------------------------------------------------------------------
 *
 * topic_wait.c
 *	  Long-poll: waiting for records to be committed to a topic.
 *
 * Shared memory holds a fixed table of wait slots, each a condition
 * variable and a generation counter; a topic maps to a slot by hashing
 * (database, relation).  A transaction that produced to topics (or held
 * partitions of them for a consumer group) bumps the generation of their
 * slots and broadcasts on their condition variables when it commits or
 * aborts (an XACT_EVENT_COMMIT or _ABORT callback, which runs after the end
 * is visible to other snapshots).  A prepared transaction's records become
 * visible at COMMIT PREPARED, in a backend that produced nothing: a
 * ProcessUtility hook wakes the topics the open-producer registry lists for
 * it (topic_producers.c).
 *
 * A waiter reads the generation before it looks for records and sleeps only
 * while the generation is unchanged.  A commit that lands between the look
 * and the sleep has already moved the generation, so it is never missed: no
 * polling, no sleep-and-retry.  Slots are shared by hash, so a waiter can be
 * woken by another topic's commit; it then looks again and, finding nothing,
 * sleeps again.  Waits end early on cancel, statement_timeout or postmaster
 * death (ConditionVariableTimedSleep checks for interrupts).
 *
 * A waiter holds its lock on the topic while it sleeps, and a command that
 * needs a conflicting one (DROP TABLE, TRUNCATE, VACUUM FULL, alter_topic,
 * LOCK TABLE) queues behind it, with every later producer and reader behind
 * that.  So a waiter looks at the lock's wait queue every
 * TOPIC_WAIT_LOCK_CHECK_MS and, when someone there waits for it, stops
 * waiting: it returns what it has, as at its deadline, and the command goes
 * on once its transaction ends (until 0.10 one idle long poll held up the
 * command, and all producing, for the whole wait).  This is the one place
 * that polls on a primary: PostgreSQL tells a lock holder nothing about
 * who waits.  On a hot standby, where commits arrive by replay, a waiter
 * also looks whenever the replay position has moved (see
 * topic_wait_for_commit).
 *
 * The table must be allocated at server start, so waiting needs pg_topics in
 * shared_preload_libraries; without it, a wait of zero works and any other
 * wait fails with a hint saying so.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(pg_topics_wait_generation);
PG_FUNCTION_INFO_V1(pg_topics_wait_for_records);

#define TOPIC_WAIT_SLOTS	1024

/*
 * How often a waiter looks for a conflicting lock request behind it.  Each
 * look is a wake-up, about 55 us of CPU on the 2-core test machine: 80 idle
 * waiters looking every 100 ms took 4.4% of a core, and once a second 0.8%
 * (0.13% without looking).  Commands that conflict with a reader's lock are
 * rare (DROP, TRUNCATE, VACUUM FULL, alter_topic), and wait at most this
 * long for a waiter (measured: 1.01 s for each of them).
 */
#define TOPIC_WAIT_LOCK_CHECK_MS 1000

/*
 * How often a waiter on a hot standby looks whether replay has moved on
 * (reading the replay position: a spinlock), and so the most a standby long
 * poll can lag a replayed commit.
 */
#define TOPIC_WAIT_REPLAY_CHECK_MS 50

typedef struct TopicWaitSlot
{
	pg_atomic_uint64 generation;
	ConditionVariable cv;
} TopicWaitSlot;

static TopicWaitSlot *wait_slots = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

/* topics this transaction produced to or consumed from, woken when it ends */
#define MAX_NOTED	64
static Oid	noted[MAX_NOTED];
static int	nnoted = 0;
static bool noted_overflow = false;

static Size
topic_wait_shmem_size(void)
{
	return mul_size(TOPIC_WAIT_SLOTS, sizeof(TopicWaitSlot));
}

static void
topic_wait_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(topic_wait_shmem_size());
}

static void
topic_wait_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wait_slots = ShmemInitStruct("pg_topics wait slots", topic_wait_shmem_size(), &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < TOPIC_WAIT_SLOTS; i++)
		{
			pg_atomic_init_u64(&wait_slots[i].generation, 0);
			ConditionVariableInit(&wait_slots[i].cv);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static TopicWaitSlot *
topic_wait_slot(Oid relid)
{
	uint32		h = hash_combine(murmurhash32(MyDatabaseId), murmurhash32(relid));

	return &wait_slots[h % TOPIC_WAIT_SLOTS];
}

/*
 * Wake a topic's waiters: at the end of a transaction that changed it, and
 * at once when a subtransaction's records are rolled back (topic_producers.c).
 */
void
topic_wait_wake(Oid relid)
{
	TopicWaitSlot *slot;

	if (wait_slots == NULL)
		return;
	slot = topic_wait_slot(relid);
	pg_atomic_fetch_add_u64(&slot->generation, 1);
	ConditionVariableBroadcast(&slot->cv);
}

static void
topic_wait_wake_all(void)
{
	int			i;

	for (i = 0; i < TOPIC_WAIT_SLOTS; i++)
	{
		pg_atomic_fetch_add_u64(&wait_slots[i].generation, 1);
		ConditionVariableBroadcast(&wait_slots[i].cv);
	}
}

static void
topic_wait_xact_callback(XactEvent event, void *arg)
{
	int			i;

	/*
	 * An abort wakes them too: records of other transactions after the
	 * aborted ones become readable (the last stable offset moves past them),
	 * as a Kafka abort marker completes a waiting fetch.  Until 0.9 waiters
	 * slept to their deadline and returned nothing.  At both events the
	 * transaction has left the proc array, so a woken reader sees the end.
	 */
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) && wait_slots != NULL)
	{
		if (noted_overflow)
			topic_wait_wake_all();	/* too many topics to remember */
		else
			for (i = 0; i < nnoted; i++)
				topic_wait_wake(noted[i]);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		nnoted = 0;
		noted_overflow = false;
	}
}

/*
 * Remember that this transaction produced to rel, or held partitions of it
 * for a consumer group, to wake its waiters when it ends: a member of a
 * group waiting in consume() for a partition no other member holds can take
 * one once a holder's transaction ends (until 0.10 it slept on to its
 * deadline, or to the next commit of a producer).
 */
void
topic_wait_note_change(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	int			i;

	if (wait_slots == NULL)
		return;
	for (i = 0; i < nnoted; i++)
		if (noted[i] == relid)
			return;
	if (nnoted < MAX_NOTED)
		noted[nnoted++] = relid;
	else
		noted_overflow = true;
}

/*
 * COMMIT PREPARED makes records visible that the committing backend did not
 * produce, so its commit callback has nothing noted: wake the waiters of the
 * topics the prepared transaction produced to, from the open-producer
 * registry, once the statement has finished it.
 */
static void
topic_wait_process_utility(PlannedStmt *pstmt, const char *queryString,
						   bool readOnlyTree, ProcessUtilityContext context,
						   ParamListInfo params, QueryEnvironment *queryEnv,
						   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		ends_prepared = false;

	if (IsA(parsetree, TransactionStmt))
	{
		TransactionStmtKind kind = ((TransactionStmt *) parsetree)->kind;

		ends_prepared = kind == TRANS_STMT_COMMIT_PREPARED ||
			kind == TRANS_STMT_ROLLBACK_PREPARED;

		/*
		 * The registry notes the transactions prepared before it began
		 * when first used, which must be before one of them ends for its
		 * end to wake the waiters.
		 */
		if (ends_prepared)
			topic_producers_begin();
	}
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	if (ends_prepared && wait_slots != NULL &&
		!topic_producers_end_prepared(topic_wait_wake))
		topic_wait_wake_all();
}

/* Called from _PG_init. */
void
topic_wait_init(void)
{
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = topic_wait_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = topic_wait_shmem_startup;
	}
	RegisterXactCallback(topic_wait_xact_callback, NULL);
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = topic_wait_process_utility;
}

/* ------------------------------------------------------------------------
 * Waiting
 * ------------------------------------------------------------------------
 */

/*
 * Whether waiting can ever see new records: not when the transaction reads
 * from one snapshot (REPEATABLE READ, SERIALIZABLE).
 */
bool
topic_wait_possible(void)
{
	return !IsolationUsesXactSnapshot();
}

static void
require_wait_support(void)
{
	if (wait_slots == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("waiting for records requires pg_topics in shared_preload_libraries"),
				 errhint("Add pg_topics to shared_preload_libraries in postgresql.conf and restart, or pass wait => '0'.")));
}

uint64
topic_wait_generation(Oid relid)
{
	require_wait_support();
	return pg_atomic_read_u64(&topic_wait_slot(relid)->generation);
}

/*
 * Whether another backend waits for a lock on the topic that conflicts with
 * one this backend holds on it.  The waiters of a lock are the processes
 * whose waitLock is that lock; they are set and cleared under the lock's
 * partition lock, which is held while they are read.  LockHasWaiters() would
 * be simpler, but it needs the lock in the shared lock table, and a reader's
 * ACCESS SHARE is usually a fast-path lock that is not there.  A pointer to a
 * lock of another partition may change while it is read; such a lock's tag
 * is never this topic's, so reading it does no harm.
 */
static bool
topic_lock_wanted(Oid relid)
{
	LOCKTAG		tag;
	LOCKMASK	held = 0;
	LOCKMODE	mode;
	LWLock	   *partition_lock;
	bool		wanted = false;
	uint32		i;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (mode = 1; mode <= MaxLockMode; mode++)
		if (LockHeldByMe(&tag, mode))
			held |= LOCKBIT_ON(mode);
	if (held == 0)
		return false;

	partition_lock = LockHashPartitionLock(LockTagHashCode(&tag));
	LWLockAcquire(partition_lock, LW_SHARED);
	for (i = 0; i < ProcGlobal->allProcCount && !wanted; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		LOCK	   *lock = proc->waitLock;

		if (lock == NULL || proc == MyProc ||
			memcmp(&lock->tag, &tag, sizeof(LOCKTAG)) != 0)
			continue;
		wanted = (GetLocksMethodTable(lock)->conflictTab[proc->waitLockMode] & held) != 0;
	}
	LWLockRelease(partition_lock);
	return wanted;
}

/*
 * Sleep until a commit to the topic moves its generation past "seen", or
 * until deadline, or until another backend waits for a lock on the topic
 * that this one's locks hold up.  Returns true when woken by a commit (on
 * a hot standby: when replay has moved on); the caller looks once more when
 * it returns false, and then returns.
 */
bool
topic_wait_for_commit(Oid relid, uint64 seen, TimestampTz deadline)
{
	TopicWaitSlot *slot;
	bool		woken = false;
	XLogRecPtr	replayed = InvalidXLogRecPtr;
	bool		napped = false;

	require_wait_support();
	slot = topic_wait_slot(relid);
	if (RecoveryInProgress())
		replayed = GetXLogReplayRecPtr(NULL);
	ConditionVariablePrepareToSleep(&slot->cv);
	for (;;)
	{
		TimestampTz now;
		long		remaining;
		long		nap = TOPIC_WAIT_LOCK_CHECK_MS;

		if (pg_atomic_read_u64(&slot->generation) != seen)
		{
			woken = true;
			break;
		}

		/*
		 * On a hot standby no producer commits here: records appear as the
		 * startup process replays commits, which calls nobody.  So a standby
		 * waiter naps TOPIC_WAIT_REPLAY_CHECK_MS and looks again if replay
		 * has moved on meanwhile: at most that often, however busy replay is
		 * (until 0.14 it slept its whole wait; the primary's waiters are
		 * woken by commits and do not poll).  After a promotion, commits wake
		 * it again.
		 */
		if (!XLogRecPtrIsInvalid(replayed))
		{
			if (napped && (!RecoveryInProgress() || GetXLogReplayRecPtr(NULL) != replayed))
			{
				woken = true;
				break;
			}
			nap = TOPIC_WAIT_REPLAY_CHECK_MS;
		}
		now = GetCurrentTimestamp();
		if (now >= deadline || topic_lock_wanted(relid))
			break;
		remaining = (long) ((deadline - now + 999) / 1000);
		(void) ConditionVariableTimedSleep(&slot->cv, Min(Max(remaining, 1), nap),
										   PG_WAIT_EXTENSION);
		napped = true;
	}
	ConditionVariableCancelSleep();
	return woken;
}

/*
 * Milliseconds in an interval argument (argname: for the error); errors for
 * negative intervals.  One longer than a century is a century: months and
 * days in microseconds overflowed before 0.9, and a wait of a million years
 * was "negative".
 */
int64
topic_interval_ms(Interval *iv, const char *argname)
{
	const double max_ms = 100.0 * 366 * 86400 * 1000;
	double		ms = (double) iv->time / 1000.0 +
		((double) iv->month * DAYS_PER_MONTH + (double) iv->day) * 86400000.0;

	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	return (int64) Min(ms, max_ms);
}

/*
 * _wait_generation(topic): the generation to pass to _wait_for_records.
 * Both functions are consume's, but anyone may call them: they tell when
 * producers commit to the topic, so they need SELECT on it, as fetch does.
 */
Datum
pg_topics_wait_generation(PG_FUNCTION_ARGS)
{
	topic_check_access(PG_GETARG_OID(0), ACL_SELECT, false);
	PG_RETURN_INT64((int64) topic_wait_generation(PG_GETARG_OID(0)));
}

/*
 * _wait_for_records(topic, seen_generation, deadline): for consume, which
 * reads the generation, looks for records, and calls this when it found
 * none.  Returns immediately when the transaction's snapshot cannot change.
 */
Datum
pg_topics_wait_for_records(PG_FUNCTION_ARGS)
{
	topic_check_access(PG_GETARG_OID(0), ACL_SELECT, false);
	if (!topic_wait_possible())
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(topic_wait_for_commit(PG_GETARG_OID(0), (uint64) PG_GETARG_INT64(1),
										 PG_GETARG_TIMESTAMPTZ(2)));
}
