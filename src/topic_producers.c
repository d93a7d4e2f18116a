/*-------------------------------------------------------------------------
 *
 * topic_producers.c
 *	  The registry of open producer transactions: for every partition a
 *	  transaction still in progress has produced to, the first seq it took.
 *
 * The stable-offset rule says a reader never receives a record that comes
 * after one whose transaction is still in progress.  A reader that walks a
 * partition forward from a seq enforces that itself: it stops at the first
 * in-progress record it meets.  A reader that starts past such a record (a
 * consumer group committed by hand, an AT_SEQUENCE_NUMBER iterator) would
 * not meet it; like Kafka, whose brokers track the first offset of every
 * ongoing transaction, we keep that first seq in shared memory and such a
 * reader gets nothing until the transaction ends.
 *
 * A producer registers (database, topic, partition, top-level xid, first
 * seq) the first time a transaction appends to a partition, while it still
 * holds the partition's tail page lock, so a reader that sees any record
 * appended after it also sees the entry.  The entry goes when the
 * transaction commits or aborts, or when the subtransaction that made it
 * aborts (a rollback to a savepoint); a prepared transaction's entry stays
 * until its xid is finished (entries of finished xids are reclaimed when the
 * table is full, and readers ignore them).  Entries are kept dense
 * (swap-remove), so readers scan only the entries in use.
 *
 * The table lives in shared memory, so this needs pg_topics in
 * shared_preload_libraries; without it readers fall back to the forward
 * rule alone.  The registry does not survive a restart; transactions
 * prepared with PREPARE TRANSACTION before it are found by walking the
 * partitions while they run (see OpenRegistry).  Standbys have no registry:
 * there, readers use the forward rule.
 *
 * The entries of a prepared transaction also say which topics its COMMIT
 * PREPARED makes records visible in, so long-poll waiters are woken then
 * (topic_wait.c), though the backend that commits never produced.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

typedef struct OpenEntry
{
	Oid			dbid;
	Oid			relid;
	int32		partition;
	TransactionId xid;			/* top-level xid of the producer */
	int64		first_seq;
} OpenEntry;

/*
 * The registry begins empty with the server (and after a crash), and on a
 * standby when it is promoted, but transactions prepared before then are
 * still in progress, and their entries are lost.  The first backend that
 * uses the registry, once recovery has ended, notes the next xid and the
 * prepared transactions running then ("orphans": they can only have
 * produced before the registry began, since every producer registers
 * first).  While any of them runs, readers that find no entry also walk
 * the partition from its stable hint for records of transactions older
 * than that xid (topic_partition_running_before), and COMMIT PREPARED or
 * ROLLBACK PREPARED of one wakes every long-poll waiter.  Until 2026-12-02
 * such a transaction was simply forgotten: a reader starting past its
 * records read the records committed after them before they were visible.
 */
typedef struct OpenRegistry
{
	LWLock	   *lock;
	bool		begun;			/* begin_xid and orphans are set */
	TransactionId begin_xid;	/* the next xid when the registry began */
	int			norphans;		/* orphans[0 .. norphans - 1] may still run */
	TransactionId *orphans;		/* max_prepared_xacts of them */
	int			nused;			/* entries[0 .. nused - 1] are in use */
	OpenEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} OpenRegistry;

/* Partitions this backend registered, with the local transaction that did. */
typedef struct LocalKey
{
	Oid			relid;
	int32		partition;
} LocalKey;

typedef struct LocalEntry
{
	LocalKey	key;
	LocalTransactionId lxid;
	SubTransactionId subid;		/* the subtransaction that registered it */
} LocalEntry;

int			topics_max_open_partitions = 65536;

static OpenRegistry *registry = NULL;
static HTAB *local_registered = NULL;
static TransactionId registered_xid = InvalidTransactionId;

/* local entries of this transaction registered below its top level */
static int	nregistered_in_subxacts = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
registry_entries_size(void)
{
	return add_size(offsetof(OpenRegistry, entries),
					mul_size(topics_max_open_partitions, sizeof(OpenEntry)));
}

static Size
registry_size(void)
{
	return add_size(registry_entries_size(),
					mul_size(Max(max_prepared_xacts, 1), sizeof(TransactionId)));
}

static void
registry_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(registry_size());
	RequestNamedLWLockTranche("pg_topics producers", 1);
}

static void
registry_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	registry = ShmemInitStruct("pg_topics producers", registry_size(), &found);
	if (!found)
	{
		registry->lock = &(GetNamedLWLockTranche("pg_topics producers"))->lock;
		registry->begun = false;
		registry->begin_xid = InvalidTransactionId;
		registry->norphans = 0;
		registry->orphans = (TransactionId *) ((char *) registry + registry_entries_size());
		registry->nused = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Remove this backend's entries when its transaction ends. */
static void
registry_xact_callback(XactEvent event, void *arg)
{
	int			i;

	if (!TransactionIdIsValid(registered_xid))
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		LWLockAcquire(registry->lock, LW_EXCLUSIVE);
		for (i = registry->nused - 1; i >= 0; i--)
			if (registry->entries[i].xid == registered_xid)
				registry->entries[i] = registry->entries[--registry->nused];
		LWLockRelease(registry->lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		registered_xid = InvalidTransactionId;	/* a prepared one's entries stay */
		nregistered_in_subxacts = 0;

		/*
		 * Every local entry is stale once the transaction ended (they say
		 * which partitions *it* registered).  Stale ones are reused, but a
		 * pooled session that produced to many partitions or short-lived
		 * topics kept one for each for good (2 MB after 3,000 topics): past
		 * a transaction's worth of small ones, start afresh.
		 */
		if (local_registered != NULL && hash_get_num_entries(local_registered) > 1024)
		{
			hash_destroy(local_registered);
			local_registered = NULL;
		}
	}
}

/*
 * A subtransaction that ends passes its entries to its parent when it
 * commits, and removes them when it aborts: every record it appended to
 * such a partition is then aborted (the entry was made by its first append
 * there, so its parent had appended nothing to that partition), and the
 * records committed after them are stable.  Until 2026-12-02 the entry
 * stayed until the top-level transaction ended, so a producer that rolled
 * back to a savepoint and went on held every reader of the partition back,
 * at the rolled-back record, for the rest of its transaction.  An abort
 * wakes the topic's long-poll waiters, as a top-level abort does.  An append
 * of the parent to the partition after that registers it anew, from its own
 * first seq.
 */
static void
registry_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS status;
	LocalEntry *local;
	int			i;

	if (nregistered_in_subxacts == 0 || local_registered == NULL)
		return;
	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;

	/*
	 * An abort drops the subtransaction's shared entries in one pass over
	 * the registry, whatever the number of partitions it produced to (a
	 * NULL-key batch reaches every partition of a topic).
	 */
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		LWLockAcquire(registry->lock, LW_EXCLUSIVE);
		for (i = registry->nused - 1; i >= 0; i--)
		{
			OpenEntry  *e = &registry->entries[i];
			LocalKey	key;

			if (e->xid != registered_xid || e->dbid != MyDatabaseId)
				continue;
			memset(&key, 0, sizeof(key));
			key.relid = e->relid;
			key.partition = e->partition;
			local = hash_search(local_registered, &key, HASH_FIND, NULL);
			if (local != NULL && local->lxid == MyProc->lxid && local->subid == mySubid)
				registry->entries[i] = registry->entries[--registry->nused];
		}
		LWLockRelease(registry->lock);
	}

	hash_seq_init(&status, local_registered);
	while ((local = hash_seq_search(&status)) != NULL)
	{
		if (local->lxid != MyProc->lxid || local->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			local->subid = parentSubid;
			if (parentSubid != TopSubTransactionId)
				continue;		/* still below the top level */
		}
		else
		{
			local->lxid = InvalidLocalTransactionId;
			topic_wait_wake(local->key.relid);
		}
		nregistered_in_subxacts--;
	}
}

/*
 * Called from _PG_init.  The registry lives in shared memory, so it exists
 * only when the library is preloaded; so does its size setting: a
 * PGC_POSTMASTER variable cannot be defined by a library loaded later (the
 * session would end with FATAL), and without the preload the library must
 * still load for everything that does not need the registry.
 */
void
topic_producers_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("pg_topics.max_open_partitions",
							"How many (topic, partition) pairs open producer transactions can hold at once.",
							"Each transaction that produces takes one entry per partition it writes to, until it ends.",
							&topics_max_open_partitions,
							/* one NULL-key batch to a topic of the most partitions, several times */
							65536,
							64,
							1024 * 1024,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = registry_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = registry_shmem_startup;
	RegisterXactCallback(registry_xact_callback, NULL);
	RegisterSubXactCallback(registry_subxact_callback, NULL);
}

/*
 * Begin the registry, once per server start (see OpenRegistry): note the
 * next xid and the prepared transactions running now.  Every use of the
 * registry calls this first, so nothing registers before it.  Not during
 * recovery, where nothing registers and the prepared transactions of a
 * standby are not in the proc array yet.  The prepared transactions are
 * looked for before the registry's lock is taken: any transaction prepared
 * before the registry began is still in the proc array then, unless it has
 * ended, and one prepared since is registered.
 */
void
topic_producers_begin(void)
{
	TransactionId *found;
	TransactionId begin_xid = InvalidTransactionId;
	int			nfound = 0;

	/*
	 * Read without the lock: it is set once, under the lock, after what it
	 * guards, which is read under the lock.
	 */
	if (registry == NULL || registry->begun || RecoveryInProgress())
		return;

	found = palloc(sizeof(TransactionId) * Max(max_prepared_xacts, 1));
	if (max_prepared_xacts > 0)
	{
		RunningTransactions running = GetRunningTransactionData();
		int			i;
		int			j;

		/*
		 * It returns holding both locks; its result is this process's own
		 * copy until its next call.
		 */
		LWLockRelease(ProcArrayLock);
		LWLockRelease(XidGenLock);
		begin_xid = running->nextXid;

		/*
		 * The top-level xids come first.  A prepared transaction has no
		 * backend: the pid of its PGPROC is 0.
		 */
		for (i = 0; i < running->xcnt; i++)
		{
			TransactionId xid = running->xids[i];

			if (BackendXidGetPid(xid) != 0 || !TransactionIdIsInProgress(xid))
				continue;
			for (j = 0; j < nfound && found[j] != xid; j++)
				;
			if (j == nfound && nfound < max_prepared_xacts)
				found[nfound++] = xid;
		}
	}

	LWLockAcquire(registry->lock, LW_EXCLUSIVE);
	if (!registry->begun)
	{
		registry->begin_xid = begin_xid;
		memcpy(registry->orphans, found, sizeof(TransactionId) * nfound);
		registry->norphans = nfound;
		registry->begun = true;
	}
	LWLockRelease(registry->lock);
	pfree(found);
}

/*
 * Whether any orphan (see OpenRegistry) is still running.  Caller holds the
 * registry's lock.
 */
static bool
orphans_running(void)
{
	int			i;

	for (i = 0; i < registry->norphans; i++)
		if (TransactionIdIsInProgress(registry->orphans[i]))
			return true;
	return false;
}

/*
 * Forget the orphans that ended; returns how many.  Caller holds the
 * registry's lock exclusively.  Only topic_producers_end_prepared does,
 * after COMMIT PREPARED or ROLLBACK PREPARED, so that the one that ends an
 * orphan is the one that finds it ended, and wakes every waiter.
 */
static int
forget_ended_orphans(void)
{
	int			before = registry->norphans;
	int			i;

	for (i = registry->norphans - 1; i >= 0; i--)
		if (!TransactionIdIsInProgress(registry->orphans[i]))
			registry->orphans[i] = registry->orphans[--registry->norphans];
	return before - registry->norphans;
}

/*
 * Register that the current transaction appends to "partition" from
 * first_seq on.  Called with the partition's tail page locked, before the
 * records are written.
 */
void
topic_producers_register(Relation rel, int32 partition, int64 first_seq)
{
	LocalKey	key;
	LocalEntry *local;
	bool		found;
	TransactionId xid;
	int			i;

	if (registry == NULL)
		return;
	topic_producers_begin();
	if (local_registered == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(LocalKey);
		ctl.entrysize = sizeof(LocalEntry);
		ctl.hcxt = TopMemoryContext;
		local_registered = hash_create("pg_topics registered partitions", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.relid = RelationGetRelid(rel);
	key.partition = partition;
	local = hash_search(local_registered, &key, HASH_ENTER, &found);
	if (found && local->lxid == MyProc->lxid)
		return;					/* this transaction registered it already */

	xid = GetTopTransactionId();
	LWLockAcquire(registry->lock, LW_EXCLUSIVE);
	if (registry->nused >= topics_max_open_partitions)
	{
		/* reclaim the entries of finished (prepared, then ended) transactions */
		for (i = registry->nused - 1; i >= 0; i--)
			if (!TransactionIdIsInProgress(registry->entries[i].xid))
				registry->entries[i] = registry->entries[--registry->nused];
	}
	if (registry->nused >= topics_max_open_partitions)
	{
		LWLockRelease(registry->lock);
		local->lxid = InvalidLocalTransactionId;
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many topic partitions with open producer transactions"),
				 errdetail("pg_topics.max_open_partitions is %d.", topics_max_open_partitions),
				 errhint("Commit producing transactions sooner, or raise pg_topics.max_open_partitions and restart.")));
	}
	registry->entries[registry->nused].dbid = MyDatabaseId;
	registry->entries[registry->nused].relid = key.relid;
	registry->entries[registry->nused].partition = partition;
	registry->entries[registry->nused].xid = xid;
	registry->entries[registry->nused].first_seq = first_seq;
	registry->nused++;
	LWLockRelease(registry->lock);
	local->lxid = MyProc->lxid;
	local->subid = GetCurrentSubTransactionId();
	if (local->subid != TopSubTransactionId)
		nregistered_in_subxacts++;
	registered_xid = xid;
}

/*
 * Whether a transaction that is in progress for "snapshot" (other than our
 * own) appended to the partition before "seq": then nothing from seq on is
 * stable yet.  While transactions prepared before the registry began may
 * still run, a partition where no entry says so is walked for their
 * records (see OpenRegistry).  One that ended since the snapshot was taken
 * does not count, as an entry does not once its transaction ended: what
 * the reader returns from seq on is then stable, though the snapshot does
 * not see the records before seq that it committed.
 */
bool
topic_producers_open_before(Relation rel, int32 partition, int64 seq, Snapshot snapshot)
{
	Oid			relid = RelationGetRelid(rel);
	bool		result = false;
	TransactionId orphans_before = InvalidTransactionId;
	int			i;

	if (registry == NULL || snapshot == NULL || snapshot->snapshot_type != SNAPSHOT_MVCC ||
		RecoveryInProgress())
		return false;
	topic_producers_begin();
	LWLockAcquire(registry->lock, LW_SHARED);
	for (i = 0; i < registry->nused && !result; i++)
	{
		OpenEntry  *e = &registry->entries[i];

		if (e->relid != relid || e->partition != partition || e->dbid != MyDatabaseId ||
			e->first_seq >= seq)
			continue;
		if (TransactionIdIsCurrentTransactionId(e->xid))
			continue;			/* our own records are visible to us */
		result = XidInMVCCSnapshot(e->xid, snapshot);
	}
	/* the orphans that ended are forgotten by topic_producers_end_prepared */
	if (!result && registry->norphans > 0 && orphans_running())
		orphans_before = registry->begin_xid;
	LWLockRelease(registry->lock);
	if (TransactionIdIsValid(orphans_before))
		result = topic_partition_running_before(rel, partition, seq, orphans_before);
	return result;
}

/*
 * After COMMIT PREPARED or ROLLBACK PREPARED: drop the entries of this
 * database's transactions that have ended (the prepared one just finished)
 * and call wake for each of their topics, so long-poll waiters see records
 * whose transaction committed in another backend's hands.  Returns false
 * when there were more topics than it could remember, or when a transaction
 * prepared before the registry began ended, whose topics are not known (the
 * caller then wakes every waiter).
 */
bool
topic_producers_end_prepared(void (*wake) (Oid relid))
{
	Oid			relids[64];
	int			nrelids = 0;
	bool		complete = true;
	int			i;
	int			j;

	if (registry == NULL)
		return true;
	topic_producers_begin();
	LWLockAcquire(registry->lock, LW_EXCLUSIVE);

	/* an orphan that ended may have produced anywhere (see OpenRegistry) */
	if (registry->norphans > 0 && forget_ended_orphans() > 0)
		complete = false;
	for (i = registry->nused - 1; i >= 0; i--)
	{
		OpenEntry  *e = &registry->entries[i];

		if (e->dbid != MyDatabaseId || TransactionIdIsInProgress(e->xid))
			continue;
		for (j = 0; j < nrelids && relids[j] != e->relid; j++)
			;
		if (j == nrelids)
		{
			if (nrelids < lengthof(relids))
				relids[nrelids++] = e->relid;
			else
				complete = false;
		}
		registry->entries[i] = registry->entries[--registry->nused];
	}
	LWLockRelease(registry->lock);
	for (i = 0; i < nrelids; i++)
		wake(relids[i]);
	return complete;
}
