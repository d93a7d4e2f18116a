/*-------------------------------------------------------------------------
 *
 * topic_storage.c
 *	  Metapage, partition-state pages and data pages of a topic: creating the
 *	  storage, appending records, and finding the page that holds a seq.
 *
 * The layout and the locking contract are described in pg_topics.h.
 *
 * WAL: every change goes through GenericXLog.  A custom resource manager
 * would save a little WAL, but it must be loaded through
 * shared_preload_libraries on the primary and on every standby before the
 * first record is replayed; GenericXLog needs nothing and is replayed by
 * core, so a topic survives a crash and streams to a standby even where the
 * library is only loaded on demand.  The cost is kept low by logging one
 * record per page touched per call (a batch of records fills a page under a
 * single WAL record), and by never changing more than the bytes appended.
 *
 * Structural changes that need more pages than one GenericXLog record can
 * hold are split into steps that each leave a consistent log: a data page is
 * linked into its partition's chain (and becomes the tail) in one record; its
 * directory entry follows in later records.  A crash in between only leaves
 * the directory short of an entry, which costs a seek a few extra page reads
 * along the chain; it never makes a record unreachable.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/generic_xlog.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "catalog/storage.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "storage/procarray.h"
#include "storage/smgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* ------------------------------------------------------------------------
 * Page initialisation
 * ------------------------------------------------------------------------
 */
void
topic_page_init(Page page, uint16 kind, int32 partition)
{
	TopicPageOpaque opaque;

	PageInit(page, BLCKSZ, TOPIC_SPECIAL_SIZE);
	opaque = TopicPageGetOpaque(page);
	memset(opaque, 0, sizeof(TopicPageOpaqueData));
	opaque->next = InvalidBlockNumber;
	opaque->partition = partition;
	opaque->kind = kind;
	opaque->page_id = TOPIC_PAGE_ID;
}

/*
 * Read and lock a data page of "partition", reporting corruption when the
 * block is anything else: chain links and state pages are trusted no
 * further than this check.
 */
Buffer
topic_lock_data_page(Relation rel, BlockNumber blkno, int32 partition, int mode,
					 BufferAccessStrategy strategy)
{
	Buffer		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	Page		page;

	LockBuffer(buf, mode);
	page = BufferGetPage(buf);
	if (!topic_page_is_data_of(page, partition))
		topic_not_data_page(rel, page, blkno, partition);
	return buf;
}

/*
 * Fail on a page that was to be a data page of "partition", saying what it
 * is instead (for whoever has to find out how it got there).
 */
void
topic_not_data_page(Relation rel, Page page, BlockNumber blkno, int32 partition)
{
	static const char *const kinds[] = {"unknown", "meta", "state", "data", "directory", "free"};
	TopicPageOpaque opaque = TopicPageGetOpaque(page);
	bool		ours = topic_page_is_ours(page);

	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("topic \"%s\" has an invalid data page at block %u",
					RelationGetRelationName(rel), blkno),
			 ours ?
			 errdetail("A data page of partition %d was expected; the page is a %s page of partition %d (first seq " INT64_FORMAT ", next block %u, flags 0x%x).",
					   partition,
					   kinds[opaque->kind <= TOPIC_PAGE_FREE ? opaque->kind : 0],
					   opaque->partition, opaque->first_seq, opaque->next,
					   opaque->flags) :
			 errdetail("A data page of partition %d was expected; the page is %s.",
					   partition, PageIsNew(page) ? "new (all zeroes)" : "not a topic page")));
}

/* Whether page is a page of this access method, of any kind. */
bool
topic_page_is_ours(Page page)
{
	return !PageIsNew(page) &&
		((PageHeader) page)->pd_special == BLCKSZ - TOPIC_SPECIAL_SIZE &&
		TopicPageGetOpaque(page)->page_id == TOPIC_PAGE_ID;
}

bool
topic_page_is_data(Page page)
{
	return topic_page_is_ours(page) && TopicPageGetOpaque(page)->kind == TOPIC_PAGE_DATA;
}

/* Whether page is a data page of "partition". */
bool
topic_page_is_data_of(Page page, int32 partition)
{
	return topic_page_is_data(page) && TopicPageGetOpaque(page)->partition == partition;
}

/*
 * Read and lock a data page reached through a block number that may be
 * stale: a chain link or directory entry read before retention removed the
 * page (and perhaps reused it for newer records of the partition).  The page
 * is live for a reader that wants seqs from expect_seq on when it is a data
 * page of the partition and either starts at or before expect_seq, or starts
 * after it with nothing removed at or after expect_seq (a gap left by an
 * explicit seq).  Returns InvalidBuffer, with nothing locked, otherwise.
 *
 * The state page is read only in the rare case that the page starts after
 * expect_seq; taking it while holding a data page lock follows the lock
 * order.  log_start_seq only grows, and a page is reused only after the log
 * start passed everything it held, so a reused page is always detected.
 */
Buffer
topic_lock_live_page(Relation rel, BlockNumber blkno, int32 partition, int mode,
					 BufferAccessStrategy strategy, int64 expect_seq)
{
	Buffer		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);

	LockBuffer(buf, mode);
	if (topic_page_is_live(rel, BufferGetPage(buf), partition, expect_seq))
		return buf;
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/* The test of topic_lock_live_page, on a page its caller has locked. */
bool
topic_page_is_live(Relation rel, Page page, int32 partition, int64 expect_seq)
{
	TopicPartitionState state;

	if (!topic_page_is_data_of(page, partition))
		return false;
	if (TopicPageGetOpaque(page)->first_seq <= expect_seq)
		return true;
	topic_get_state(rel, partition, &state);
	return state.log_start_seq <= expect_seq;
}

TopicPartitionState *
topic_state_ptr(Page statepage, int idx)
{
	return &((TopicPartitionState *) PageGetContents(statepage))[idx];
}

static TopicMetaData *
topic_page_meta(Page page)
{
	return (TopicMetaData *) PageGetContents(page);
}

static TopicMetaGrowth *
topic_page_growth(Page page)
{
	return (TopicMetaGrowth *) ((char *) PageGetContents(page) + TOPIC_META_GROWTH_OFF);
}

/*
 * Whether the growth recorded on the metapage counts: its transaction (or
 * this one) committed.  One in progress elsewhere, aborted or cut short by
 * a crash does not.
 */
static bool
topic_growth_counts(const TopicMetaGrowth *growth)
{
	if (!TransactionIdIsValid(growth->xid))
		return false;
	return TransactionIdIsCurrentTransactionId(growth->xid) ||
		TransactionIdDidCommit(growth->xid);
}

/*
 * In a WAL record of the metapage: make npartitions its count, with no
 * growth pending.
 */
static void
topic_meta_set_count(Page metapage, int npartitions)
{
	TopicMetaGrowth *growth = topic_page_growth(metapage);

	topic_page_meta(metapage)->npartitions = npartitions;
	growth->xid = InvalidTransactionId;
	growth->npartitions = 0;
}

/* The partition count of a metapage, its growth included when it counts. */
static int
topic_meta_npartitions(Page metapage)
{
	TopicMetaGrowth *growth = topic_page_growth(metapage);

	if (topic_growth_counts(growth))
		return growth->npartitions;
	return topic_page_meta(metapage)->npartitions;
}

static TopicPartitionState *
topic_page_states(Page page)
{
	return (TopicPartitionState *) PageGetContents(page);
}

static void
topic_state_init(TopicPartitionState *state, int64 next_seq)
{
	memset(state, 0, sizeof(TopicPartitionState));
	state->log_start_seq = next_seq;
	state->next_seq_base = next_seq;
	state->head = InvalidBlockNumber;
	state->tail = InvalidBlockNumber;
	state->dir_root = InvalidBlockNumber;
	state->stable_hint = InvalidBlockNumber;
	state->frozen_upto = InvalidBlockNumber;
}

/* Mark the whole content area of a meta or state page as used. */
static void
topic_page_fill_contents(Page page)
{
	((PageHeader) page)->pd_lower = ((PageHeader) page)->pd_upper;
}

static void
topic_corrupt_page(Relation rel, BlockNumber blkno, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("topic \"%s\" has an invalid %s at block %u",
					RelationGetRelationName(rel), what, blkno)));
}

/* ------------------------------------------------------------------------
 * Creating storage
 * ------------------------------------------------------------------------
 */

/*
 * Write the metapage and the state pages of a new, empty relfilenode.
 *
 * The pages are written through smgr because the relfilenode is not yet the
 * relation's (TRUNCATE builds the new one while the old is still in use).
 * "carry" gives each partition's log start and next seq when the new storage
 * replaces old storage, so that seqs continue after TRUNCATE; NULL starts
 * every partition at 0.
 */
void
topic_init_storage(SMgrRelation srel, bool needs_wal,
				   const TopicPartitionState *carry, int npartitions)
{
	PGAlignedBlock buf;
	Page		page = (Page) buf.data;
	int			nstatepages = (npartitions + TOPIC_STATES_PER_PAGE - 1) / TOPIC_STATES_PER_PAGE;
	TopicMetaData *meta;
	BlockNumber blkno;
	int			i;

	Assert(npartitions >= 1 && npartitions <= TOPIC_MAX_PARTITIONS);

	/* block 0: metapage */
	topic_page_init(page, TOPIC_PAGE_META, -1);
	meta = topic_page_meta(page);
	meta->magic = TOPIC_MAGIC;
	meta->version = TOPIC_FORMAT_VERSION;
	meta->npartitions = npartitions;
	meta->nstatepages = nstatepages;
	for (i = 0; i < nstatepages; i++)
		meta->statepages[i] = i + 1;
	topic_page_fill_contents(page);

	blkno = TOPIC_METAPAGE_BLKNO;
	PageSetChecksumInplace(page, blkno);
	smgrextend(srel, MAIN_FORKNUM, blkno, (char *) page, true);
	if (needs_wal)
		log_newpage(&srel->smgr_rnode.node, MAIN_FORKNUM, blkno, page, true);

	/* blocks 1..nstatepages: partition states */
	for (i = 0; i < nstatepages; i++)
	{
		TopicPartitionState *states;
		int			j;

		topic_page_init(page, TOPIC_PAGE_STATE, -1);
		states = topic_page_states(page);
		for (j = 0; j < TOPIC_STATES_PER_PAGE; j++)
		{
			int			p = i * TOPIC_STATES_PER_PAGE + j;
			int64		next = 0;

			if (p >= npartitions)
				break;
			if (carry)
				next = carry[p].next_seq_base;
			topic_state_init(&states[j], next);
		}
		topic_page_fill_contents(page);

		blkno = i + 1;
		PageSetChecksumInplace(page, blkno);
		smgrextend(srel, MAIN_FORKNUM, blkno, (char *) page, true);
		if (needs_wal)
			log_newpage(&srel->smgr_rnode.node, MAIN_FORKNUM, blkno, page, true);
	}

	/*
	 * The writes bypassed shared buffers, so a checkpoint that started before
	 * them may already have passed their WAL records: sync now, as
	 * contrib/bloom does for its init fork.
	 */
	if (needs_wal)
		smgrimmedsync(srel, MAIN_FORKNUM);
}

/*
 * New, empty storage, in place, for a relation whose relfilenode was created
 * in this transaction (TRUNCATE of a topic created in it, VACUUM FULL's
 * transient table): the file is cut to nothing and written again, logged
 * as the relation needs, and the cache of the old metapage is dropped.
 */
void
topic_reset_storage(Relation rel, const TopicPartitionState *carry, int npartitions)
{
	RelationTruncate(rel, 0);
	if (rel->rd_amcache)
		pfree(rel->rd_amcache);
	rel->rd_amcache = NULL;
	topic_init_storage(RelationGetSmgr(rel), RelationNeedsWAL(rel), carry, npartitions);
}

/* ------------------------------------------------------------------------
 * The backend-local cache of the metapage
 * ------------------------------------------------------------------------
 */

static Buffer
topic_read_meta(Relation rel, int mode)
{
	Buffer		buf = ReadBuffer(rel, TOPIC_METAPAGE_BLKNO);
	Page		page;
	TopicMetaData *meta;

	LockBuffer(buf, mode);
	page = BufferGetPage(buf);
	meta = topic_page_meta(page);
	if (PageIsNew(page) || meta->magic != TOPIC_MAGIC)
		topic_corrupt_page(rel, TOPIC_METAPAGE_BLKNO, "metapage");
	if (meta->version > TOPIC_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("topic \"%s\" has storage format %u, newer than this pg_topics supports (%u)",
						RelationGetRelationName(rel), meta->version, TOPIC_FORMAT_VERSION),
				 errhint("Install the newer pg_topics library.")));
	return buf;
}

/*
 * The shape of the topic (partition count, state page locations) and a tail
 * hint per partition.  rd_amcache is dropped by every relcache invalidation,
 * which topic_set_partitions and a new relfilenode both cause.
 */
TopicRelCache *
topic_get_cache(Relation rel)
{
	if (rel->rd_amcache == NULL)
	{
		Buffer		buf = topic_read_meta(rel, BUFFER_LOCK_SHARE);
		TopicMetaData *meta = topic_page_meta(BufferGetPage(buf));
		int			npartitions = topic_meta_npartitions(BufferGetPage(buf));
		Size		sz;
		TopicRelCache *cache;
		int			i;

		/* one chunk: the relcache frees rd_amcache with a single pfree */
		sz = MAXALIGN(sizeof(TopicRelCache)) +
			MAXALIGN(sizeof(BlockNumber) * meta->nstatepages) +
			sizeof(BlockNumber) * npartitions;
		cache = MemoryContextAllocZero(CacheMemoryContext, sz);
		cache->npartitions = npartitions;
		cache->nstatepages = meta->nstatepages;
		cache->statepages = (BlockNumber *) ((char *) cache + MAXALIGN(sizeof(TopicRelCache)));
		cache->tail_hint = (BlockNumber *) ((char *) cache->statepages +
											MAXALIGN(sizeof(BlockNumber) * meta->nstatepages));
		memcpy(cache->statepages, meta->statepages, sizeof(BlockNumber) * meta->nstatepages);
		for (i = 0; i < npartitions; i++)
			cache->tail_hint[i] = InvalidBlockNumber;
		UnlockReleaseBuffer(buf);
		rel->rd_amcache = cache;
	}
	return (TopicRelCache *) rel->rd_amcache;
}

void
topic_check_partition(Relation rel, int32 partition)
{
	TopicRelCache *cache = topic_get_cache(rel);

	if (partition < 0 || partition >= cache->npartitions)
	{
		Oid			source;

		/* added by this transaction: there, until the commit */
		if (partition > 0 && partition < topic_partitions_at_commit(rel))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition %d of topic \"%s\" does not exist yet",
							partition, RelationGetRelationName(rel)),
					 errdetail("It was added by this transaction, and is there once the transaction commits."),
					 errhint("Commit the transaction that added it, then use it.")));
		/* the rewrite of a table into a topic: its partition count */
		source = partition > 0 && partition < TOPIC_MAX_PARTITIONS ?
			topic_rewrite_source(rel) : InvalidOid;
		if (OidIsValid(source))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition %d of topic \"%s\" does not exist",
							partition, get_rel_name(source)),
					 errdetail_plural("The table's rewrite into a topic has %d partition: as many as the n_distinct option of column partition gives, when it is a whole number from 1 to %d, else 1.",
									  "The table's rewrite into a topic has %d partitions: as many as the n_distinct option of column partition gives, when it is a whole number from 1 to %d, else 1.",
									  cache->npartitions, cache->npartitions, TOPIC_MAX_PARTITIONS),
					 errhint("Give the partition count, at least %d, in the same ALTER TABLE: ALTER COLUMN partition SET (n_distinct = count), SET ACCESS METHOD topic_log.",
							 partition + 1)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition %d of topic \"%s\" does not exist",
						partition, topic_user_relname(rel)),
				 cache->npartitions == 1 ?
				 errdetail("The topic has 1 partition, numbered 0.") :
				 errdetail("The topic has %d partitions, numbered 0 to %d.",
						   cache->npartitions, cache->npartitions - 1),
				 /* no topic has that partition: no alter_topic to suggest */
				 partition >= TOPIC_MAX_PARTITIONS ?
				 (cache->npartitions == 1 ?
				  errhint("Use partition 0 (a topic has at most %d partitions).",
						  TOPIC_MAX_PARTITIONS) :
				  errhint("Use a partition from 0 to %d (a topic has at most %d partitions).",
						  cache->npartitions - 1, TOPIC_MAX_PARTITIONS)) :
				 partition > 0 ?
				 (cache->npartitions == 1 ?
				  /* CREATE TABLE AS ... USING topic_log: no topic to alter yet */
				  (rel->rd_createSubid != InvalidSubTransactionId ?
				   errhint("Use partition 0, or give the topic more partitions before it takes records: create it with topics.create_topic(name, %d) and fill it with INSERT ... SELECT, or use topics.alter_topic(topic, partitions => %d).",
						   partition + 1, partition + 1) :
				   errhint("Use partition 0, or add partitions with topics.alter_topic(topic, partitions => %d).",
						   partition + 1)) :
				  errhint("Use a partition from 0 to %d, or add partitions with topics.alter_topic(topic, partitions => %d).",
						  cache->npartitions - 1, partition + 1)) : 0));
	}
}

/* ------------------------------------------------------------------------
 * Partition states
 * ------------------------------------------------------------------------
 */

static Buffer
topic_state_buffer(Relation rel, int32 partition, int mode, int *idx)
{
	TopicRelCache *cache = topic_get_cache(rel);
	int			pageno = partition / TOPIC_STATES_PER_PAGE;
	Buffer		buf;
	Page		page;

	Assert(partition >= 0 && partition < cache->npartitions);
	buf = ReadBuffer(rel, cache->statepages[pageno]);
	LockBuffer(buf, mode);
	page = BufferGetPage(buf);
	if (PageIsNew(page) || TopicPageGetOpaque(page)->kind != TOPIC_PAGE_STATE)
		topic_corrupt_page(rel, cache->statepages[pageno], "partition state page");
	*idx = partition % TOPIC_STATES_PER_PAGE;
	return buf;
}

Buffer
topic_lock_state_page(Relation rel, int32 partition, int mode, int *idx)
{
	return topic_state_buffer(rel, partition, mode, idx);
}

void
topic_get_state(Relation rel, int32 partition, TopicPartitionState *state)
{
	int			idx;
	Buffer		buf = topic_state_buffer(rel, partition, BUFFER_LOCK_SHARE, &idx);

	*state = topic_page_states(BufferGetPage(buf))[idx];
	UnlockReleaseBuffer(buf);
}

/*
 * Change one partition's state under the state page's exclusive lock, WAL
 * logged.  The caller must hold no state page lock.
 */
void
topic_update_state(Relation rel, int32 partition,
				   void (*mutate) (TopicPartitionState *state, void *arg), void *arg)
{
	int			idx;
	Buffer		buf = topic_state_buffer(rel, partition, BUFFER_LOCK_EXCLUSIVE, &idx);
	GenericXLogState *xs = GenericXLogStart(rel);
	Page		page = GenericXLogRegisterBuffer(xs, buf, 0);

	mutate(&topic_page_states(page)[idx], arg);
	GenericXLogFinish(xs);
	UnlockReleaseBuffer(buf);
}

/*
 * Read every partition's state, with next_seq_base set to the partition's
 * next seq (used to carry seqs over to a new relfilenode).
 */
TopicPartitionState *
topic_read_all_states(Relation rel, int *npartitions)
{
	TopicRelCache *cache = topic_get_cache(rel);
	TopicPartitionState *states;
	int			p;

	*npartitions = cache->npartitions;
	states = palloc(sizeof(TopicPartitionState) * cache->npartitions);
	for (p = 0; p < cache->npartitions; p++)
	{
		int64		next = topic_partition_next_seq(rel, p, &states[p]);

		states[p].next_seq_base = next;
	}
	return states;
}

/*
 * The partition's tail page, share-locked, and the state read in *state;
 * InvalidBuffer when the partition has no page.
 *
 * The tail named by the state may stop being the tail, be removed by
 * retention and be reused, as a directory page even, before we read it;
 * then we read the state again (a reused data page is newer, and its chain
 * leads to the tail just as well).
 */
Buffer
topic_read_tail(Relation rel, int32 partition, TopicPartitionState *state)
{
	BlockNumber blkno;

	topic_get_state(rel, partition, state);
	blkno = state->tail;
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf = ReadBuffer(rel, blkno);
		Page		page = BufferGetPage(buf);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		if (!topic_page_is_data_of(page, partition))
		{
			UnlockReleaseBuffer(buf);
			CHECK_FOR_INTERRUPTS();
			topic_get_state(rel, partition, state);
			blkno = state->tail;
			continue;
		}
		if (!BlockNumberIsValid(TopicPageGetOpaque(page)->next))
			return buf;
		/* a new tail appeared after we read the state: follow the chain */
		blkno = TopicPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	return InvalidBuffer;
}

/*
 * The next seq of a partition (Kafka's high watermark, counting records of
 * transactions still in progress).  Also returns the state read.
 */
int64
topic_partition_next_seq(Relation rel, int32 partition, TopicPartitionState *state)
{
	Buffer		buf = topic_read_tail(rel, partition, state);
	Page		page;
	int64		next;

	if (!BufferIsValid(buf))
		return state->next_seq_base;
	page = BufferGetPage(buf);
	next = TopicPageGetOpaque(page)->first_seq + PageGetMaxOffsetNumber(page);
	UnlockReleaseBuffer(buf);
	return next;
}

/* ------------------------------------------------------------------------
 * Growing the partition count
 * ------------------------------------------------------------------------
 */

/* A new page at the end of the relation, zeroed and exclusively locked. */
Buffer
topic_new_buffer(Relation rel)
{
	Buffer		buf;

	LockRelationForExtension(rel, ExclusiveLock);
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, P_NEW, RBM_ZERO_AND_LOCK, NULL);
	UnlockRelationForExtension(rel, ExclusiveLock);
	return buf;
}

/*
 * A page for a new data or directory page of "partition", exclusively
 * locked: the first page of the partition's free list when it has one, else
 * a new page at the end of the file.  Returns with the partition's state
 * page exclusively locked in *statebuf (its slot in *idx) for the caller's
 * WAL record, which must also make *free_next, when valid, the list's first
 * page: taking a free page and using it are one record, so a crash never
 * leaves a page both free and in use.  Only the partition's appender
 * (holding its tail page) takes pages, so nobody else pops the list.
 */
Buffer
topic_take_page(Relation rel, int32 partition, Buffer *statebuf, int *idx,
				BlockNumber *free_next)
{
	Buffer		newbuf;
	int			attempt;

	/*
	 * Retention may push pages in front of the one we popped before we hold
	 * the state page; then the list's first page is another, and we look
	 * again rather than extend the file while the list has pages.
	 */
	for (attempt = 0; attempt < 10; attempt++)
	{
		newbuf = topic_pop_free_page(rel, partition, free_next);
		if (!BufferIsValid(newbuf))
			break;
		*statebuf = topic_state_buffer(rel, partition, BUFFER_LOCK_EXCLUSIVE, idx);
		if (topic_page_states(BufferGetPage(*statebuf))[*idx].free_head ==
			BufferGetBlockNumber(newbuf))
			return newbuf;
		UnlockReleaseBuffer(*statebuf);
		UnlockReleaseBuffer(newbuf);
	}

	/* extending the file: the state page is not held across that */
	newbuf = topic_new_buffer(rel);
	*statebuf = topic_state_buffer(rel, partition, BUFFER_LOCK_EXCLUSIVE, idx);
	*free_next = InvalidBlockNumber;
	return newbuf;
}

/*
 * Whether a topic of "from" partitions may have "to": never fewer, never
 * more than TOPIC_MAX_PARTITIONS.  Raises the error if not.
 */
void
topic_check_partition_count(Relation rel, int from, int to)
{
	if (to < from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot reduce the partitions of topic \"%s\" from %d to %d",
						RelationGetRelationName(rel), from, to),
				 errdetail("Records are placed by key hash modulo the partition count; removing partitions would lose records."),
				 errhint("Create a new topic with fewer partitions and copy the records.")));
	if (to > TOPIC_MAX_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a topic can have at most %d partitions", TOPIC_MAX_PARTITIONS),
				 errdetail("%d partitions were requested.", to)));
}

/*
 * For tests (pg_topics.debug_fail_in_growth): fail with what was written so
 * far flushed to WAL, so that a crash now recovers the same state.
 */
static void
growth_fail(Relation rel)
{
	XLogFlush(XactLastRecEnd);
	ereport(topics_debug_fail_in_growth == TOPIC_GROWTH_FAIL_ERROR ? ERROR : PANIC,
			(errmsg("pg_topics.debug_fail_in_growth: failing while adding partitions to topic \"%s\"",
					RelationGetRelationName(rel))));
}

/*
 * Raise the partition count to npartitions, adding state pages as needed.
 * Caller must hold a lock that excludes concurrent producers and readers of
 * the topic's shape (create_topic holds AccessExclusiveLock on a new table).
 *
 * at_commit: the count takes effect when the current transaction commits
 * (alter_topic, which calls this at XACT_EVENT_PRE_COMMIT); else at once
 * (storage made in this subtransaction, which a rollback discards).
 *
 * The state pages for the new partitions come first, one WAL record each;
 * their slots belong to no partition any reader knows of, so a crash between
 * two of them leaves spare pages a later growth reuses.  The count itself
 * then changes in one record, whatever the number of state pages.
 */
void
topic_set_partitions(Relation rel, int npartitions, bool at_commit)
{
	Buffer		metabuf;
	Page		metapage;
	TopicMetaData *meta;
	TopicMetaGrowth *growth;
	GenericXLogState *xs;
	int			old;
	int			pageno;

	metabuf = topic_read_meta(rel, BUFFER_LOCK_EXCLUSIVE);
	old = topic_meta_npartitions(BufferGetPage(metabuf));

	topic_check_partition_count(rel, old, npartitions);
	if (npartitions == old)
	{
		UnlockReleaseBuffer(metabuf);
		return;
	}

	for (pageno = old / TOPIC_STATES_PER_PAGE;
		 pageno * TOPIC_STATES_PER_PAGE < npartitions;
		 pageno++)
	{
		int			from = Max(old, pageno * TOPIC_STATES_PER_PAGE);
		int			upto = Min(npartitions, (pageno + 1) * TOPIC_STATES_PER_PAGE);
		Page		statepage;
		Buffer		statebuf;
		bool		newpage;
		int			p;

		meta = topic_page_meta(BufferGetPage(metabuf));
		newpage = (pageno >= (int) meta->nstatepages);
		if (newpage)
			statebuf = topic_new_buffer(rel);
		else
		{
			statebuf = ReadBuffer(rel, meta->statepages[pageno]);
			LockBuffer(statebuf, BUFFER_LOCK_EXCLUSIVE);
		}

		xs = GenericXLogStart(rel);
		statepage = GenericXLogRegisterBuffer(xs, statebuf,
											  newpage ? GENERIC_XLOG_FULL_IMAGE : 0);
		if (newpage)
		{
			topic_page_init(statepage, TOPIC_PAGE_STATE, -1);
			topic_page_fill_contents(statepage);
			meta = topic_page_meta(GenericXLogRegisterBuffer(xs, metabuf, 0));
			meta->statepages[meta->nstatepages] = BufferGetBlockNumber(statebuf);
			meta->nstatepages++;
		}
		for (p = from; p < upto; p++)
			topic_state_init(&topic_page_states(statepage)[p % TOPIC_STATES_PER_PAGE], 0);
		GenericXLogFinish(xs);
		UnlockReleaseBuffer(statebuf);
		if (newpage && topics_debug_fail_in_growth == TOPIC_GROWTH_FAIL_CRASH_IN_STATE_PAGES)
			growth_fail(rel);
	}

	/* the count, with any earlier growth folded in: one record */
	xs = GenericXLogStart(rel);
	metapage = GenericXLogRegisterBuffer(xs, metabuf, 0);
	topic_meta_set_count(metapage, at_commit ? old : npartitions);
	if (at_commit)
	{
		growth = topic_page_growth(metapage);
		growth->xid = GetTopTransactionId();
		growth->npartitions = npartitions;
	}
	GenericXLogFinish(xs);
	UnlockReleaseBuffer(metabuf);

	/* every backend must re-read the shape */
	CacheInvalidateRelcache(rel);

	if (topics_debug_fail_in_growth == TOPIC_GROWTH_FAIL_ERROR ||
		topics_debug_fail_in_growth == TOPIC_GROWTH_FAIL_CRASH)
		growth_fail(rel);
}

/*
 * Fold a finished growth into the metapage's count (VACUUM, before it
 * advances relfrozenxid: past the growth's xid, its commit status may be
 * gone).  Caller holds at least ShareUpdateExclusiveLock, which a growing
 * transaction's AccessExclusiveLock excludes until it ends; the count
 * readers see does not change.
 */
void
topic_settle_growth(Relation rel)
{
	Buffer		metabuf = topic_read_meta(rel, BUFFER_LOCK_SHARE);
	TopicMetaGrowth *growth = topic_page_growth(BufferGetPage(metabuf));
	GenericXLogState *xs;
	Page		metapage;
	int			npartitions;

	if (!TransactionIdIsValid(growth->xid) || TransactionIdIsInProgress(growth->xid))
	{
		UnlockReleaseBuffer(metabuf);
		return;
	}
	LockBuffer(metabuf, BUFFER_LOCK_UNLOCK);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	growth = topic_page_growth(BufferGetPage(metabuf));
	if (!TransactionIdIsValid(growth->xid))
	{
		UnlockReleaseBuffer(metabuf);
		return;
	}
	npartitions = topic_meta_npartitions(BufferGetPage(metabuf));
	xs = GenericXLogStart(rel);
	metapage = GenericXLogRegisterBuffer(xs, metabuf, 0);
	topic_meta_set_count(metapage, npartitions);
	GenericXLogFinish(xs);
	UnlockReleaseBuffer(metabuf);
}

/* ------------------------------------------------------------------------
 * Appending
 * ------------------------------------------------------------------------
 */

/* Highest timestamp on a data page and below it (for the next page's floor). */
static TimestampTz
topic_page_max_ts(Page page)
{
	TopicPageOpaque opaque = TopicPageGetOpaque(page);
	TimestampTz result = opaque->ts_floor;
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber off;

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		itemid = PageGetItemId(page, off);
		TimestampTz ts;

		if (!ItemIdIsNormal(itemid))
			continue;
		memcpy(&ts, (char *) PageGetItem(page, itemid) + TREC_TS_OFF, sizeof(TimestampTz));
		if (ts > result)
			result = ts;
	}
	return result;
}

typedef struct NewTailArgs
{
	BlockNumber blkno;
	bool		first;
} NewTailArgs;

/*
 * Create a partition's first data page.  Called with no partition lock; the
 * state page's exclusive lock settles a race between two first producers.
 * Returns the tail, exclusively locked (it may be another producer's page).
 */
static Buffer
topic_create_head(Relation rel, int32 partition, bool *created)
{
	int			idx;
	Buffer		statebuf = topic_state_buffer(rel, partition, BUFFER_LOCK_EXCLUSIVE, &idx);
	TopicPartitionState *st = &topic_page_states(BufferGetPage(statebuf))[idx];
	Buffer		buf;
	GenericXLogState *xs;
	Page		page;
	Page		statepage;
	TopicPageOpaque opaque;

	*created = false;
	if (BlockNumberIsValid(st->tail))
	{
		BlockNumber tail = st->tail;

		/* somebody else created it: lock it after dropping the state lock */
		UnlockReleaseBuffer(statebuf);
		buf = ReadBuffer(rel, tail);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		return buf;
	}

	/* a brand-new page: nobody else can be waiting for its lock */
	buf = topic_new_buffer(rel);
	xs = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(xs, buf, GENERIC_XLOG_FULL_IMAGE);
	statepage = GenericXLogRegisterBuffer(xs, statebuf, 0);
	st = &topic_page_states(statepage)[idx];

	topic_page_init(page, TOPIC_PAGE_DATA, partition);
	opaque = TopicPageGetOpaque(page);
	opaque->first_seq = st->next_seq_base;
	opaque->ts_floor = DT_NOBEGIN;
	opaque->flags |= TOPIC_PAGE_NO_DIR_ENTRY;	/* see topic_add_tail */

	st->head = st->tail = BufferGetBlockNumber(buf);
	if (!BlockNumberIsValid(st->stable_hint))
		st->stable_hint = st->head;
	if (!BlockNumberIsValid(st->frozen_upto))
		st->frozen_upto = st->head;
	st->npages++;
	GenericXLogFinish(xs);
	UnlockReleaseBuffer(statebuf);
	*created = true;
	return buf;
}

/*
 * Exclusively lock the tail data page of a partition, creating the first
 * page when the partition has none.
 */
static Buffer
topic_lock_tail(Relation rel, int32 partition)
{
	BlockNumber blkno = topic_get_cache(rel)->tail_hint[partition];

	/* rd_amcache may be reset by any invalidation: never keep a pointer */
	for (;;)
	{
		Buffer		buf;
		Page		page;
		TopicPageOpaque opaque;

		if (!BlockNumberIsValid(blkno))
		{
			TopicPartitionState state;

			topic_get_state(rel, partition, &state);
			blkno = state.tail;
			if (!BlockNumberIsValid(blkno))
			{
				bool		created;

				buf = topic_create_head(rel, partition, &created);
				if (created)
					topic_dir_append(rel, partition, buf);
				blkno = BufferGetBlockNumber(buf);
				page = BufferGetPage(buf);
				opaque = TopicPageGetOpaque(page);
				if (topic_page_is_data_of(page, partition) &&
					!BlockNumberIsValid(opaque->next))
				{
					topic_get_cache(rel)->tail_hint[partition] = blkno;
					return buf;
				}
				UnlockReleaseBuffer(buf);
				blkno = InvalidBlockNumber;
				continue;
			}
		}

		buf = ReadBuffer(rel, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		if (topic_page_is_data_of(page, partition))
		{
			if (!BlockNumberIsValid(opaque->next))
			{
				topic_get_cache(rel)->tail_hint[partition] = blkno;
				return buf;
			}
			/* the tail moved on: follow the chain */
			blkno = opaque->next;
		}
		else
			blkno = InvalidBlockNumber; /* stale hint: ask the state page */
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Link a new data page after the full tail "buf" (exclusively locked),
 * WAL-logged in one record with the state change; returns the new tail,
 * exclusively locked, after adding its directory entry.  "buf" is released.
 *
 * The entry is a later WAL record (a split may need several), so a crash or
 * an error between the two leaves a linked page without one.  Readers still
 * reach it along the chain from the page of the last entry, but once
 * retention freed that page and it was reused for newer records, a seek
 * into the page without an entry would land on the reused page and take it
 * for a gap of explicit seqs, skipping records (until 0.17).  So a page is
 * flagged TOPIC_PAGE_NO_DIR_ENTRY when linked, the record that makes its
 * entry clears the flag, and a flagged tail gets its entry here before any
 * page is taken, the only way a freed page comes back: only the tail can be
 * flagged, and never once a page after it exists.
 */
static Buffer
topic_add_tail(Relation rel, int32 partition, Buffer buf, int64 first_seq)
{
	BlockNumber free_next;
	Buffer		newbuf;
	BlockNumber newblk;
	TopicPageChange changes[3];
	Page		oldpage;
	Page		newpage;
	Page		statepage;
	TopicPageOpaque newopaque;
	int			idx;
	Buffer		statebuf;
	TopicPartitionState *st;
	TimestampTz floor_ts;

	if (TopicPageGetOpaque(BufferGetPage(buf))->flags & TOPIC_PAGE_NO_DIR_ENTRY)
		topic_dir_append(rel, partition, buf);

	floor_ts = topic_page_max_ts(BufferGetPage(buf));
	newbuf = topic_take_page(rel, partition, &statebuf, &idx, &free_next);
	newblk = BufferGetBlockNumber(newbuf);
	oldpage = BufferGetPage(buf);
	newpage = BufferGetPage(newbuf);
	statepage = BufferGetPage(statebuf);
	st = &topic_page_states(statepage)[idx];

	/* one WAL record, from the bytes changed (see topic_xlog.c) */
	START_CRIT_SECTION();
	topic_page_init(newpage, TOPIC_PAGE_DATA, partition);
	newopaque = TopicPageGetOpaque(newpage);
	newopaque->first_seq = first_seq;
	newopaque->ts_floor = floor_ts;
	if (!topics_debug_skip_directory_entry)
		newopaque->flags |= TOPIC_PAGE_NO_DIR_ENTRY;
	TopicPageGetOpaque(oldpage)->next = newblk;
	st->tail = newblk;
	st->npages++;
	topic_free_list_popped(st, free_next);
	MarkBufferDirty(buf);
	MarkBufferDirty(newbuf);
	MarkBufferDirty(statebuf);
	topic_change_init(&changes[0], buf);
	topic_change_add(&changes[0], &TopicPageGetOpaque(oldpage)->next, sizeof(BlockNumber));
	topic_change_init(&changes[1], newbuf);
	topic_change_init(&changes[2], statebuf);
	topic_change_add(&changes[2], st, sizeof(TopicPartitionState));
	topic_xlog_changes(rel, changes, 3);
	END_CRIT_SECTION();

	UnlockReleaseBuffer(statebuf);
	UnlockReleaseBuffer(buf);

	/* still holding the new tail's lock: we are the partition's only appender */
	if (!topics_debug_skip_directory_entry)
		topic_dir_append(rel, partition, newbuf);
	topic_get_cache(rel)->tail_hint[partition] = newblk;
	return newbuf;
}

static void
topic_seq_too_low(Relation rel, int32 partition, int64 seq, int64 next)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("seq " INT64_FORMAT " is below the next seq " INT64_FORMAT " of partition %d of topic \"%s\"",
					seq, next, partition, topic_user_relname(rel)),
			 errdetail("Seqs are assigned in increasing order and are never reused."),
			 errhint("Leave seq NULL to have it assigned.")));
}

/*
 * Append records of one partition, in order.
 *
 * A record with seq >= 0 asks for that seq (used to restore a dump): it must
 * not be below the partition's next seq; the seqs skipped become unused line
 * pointers, or a new page starts at the requested seq when they would not
 * fit.  Each page is filled in two passes: first decide how many of the
 * records fit (raising any error before the page is touched), then write
 * them in one critical section with a single WAL record.
 */
static void
start_log_at(TopicPartitionState *st, void *arg)
{
	int64		seq = *(int64 *) arg;

	if (!BlockNumberIsValid(st->head) && seq > st->next_seq_base)
		st->log_start_seq = st->next_seq_base = seq;
}

/*
 * Raise the next seq of a partition that has no pages to seq, its log start
 * with it, as start_log_at does for the first record of a restore.  Used to
 * restore a TRUNCATE's seqs (topic_truncation.c).  Returns false, changing
 * nothing, when the partition has pages.
 */
typedef struct RaiseEmpty
{
	int64		seq;
	bool		has_pages;
} RaiseEmpty;

static void
raise_empty(TopicPartitionState *st, void *arg)
{
	RaiseEmpty *r = (RaiseEmpty *) arg;

	r->has_pages = BlockNumberIsValid(st->head);
	start_log_at(st, &r->seq);
}

bool
topic_raise_empty_partition(Relation rel, int32 partition, int64 seq)
{
	TopicPartitionState state;
	RaiseEmpty	r;

	topic_get_state(rel, partition, &state);
	if (BlockNumberIsValid(state.head))
		return false;
	if (seq <= state.next_seq_base)
		return true;			/* nothing to log */
	r.seq = seq;
	r.has_pages = false;
	topic_update_state(rel, partition, raise_empty, &r);
	return !r.has_pages;
}

static void
topic_append_partition(Relation rel, int32 partition, TopicNewRecord **recs,
					   int nrecs, CommandId cid, TimestampTz now)
{
	TransactionId xid = GetCurrentTransactionId();
	Buffer		buf;
	int			i = 0;

	/*
	 * A partition without pages asked for a seq past its next one (the
	 * restore of a dump of a partition whose log start had moved) starts its
	 * log there, as the dumped one did: the seqs before it were never in
	 * this partition.  Until 0.9 its first page started at the old next seq
	 * with a gap, and the log start stayed there.  Not for VACUUM FULL's
	 * copies (records that carry their xmin) nor its placeholder for an
	 * aborted end (a dead record), which keep the bounds as they were, even
	 * where the partition's first seqs, or all of them, were aborted.
	 */
	if (recs[0]->seq >= 0 && !TransactionIdIsValid(recs[0]->xmin) && !recs[0]->dead)
	{
		TopicPartitionState state;

		topic_get_state(rel, partition, &state);
		if (!BlockNumberIsValid(state.head) && recs[0]->seq > state.next_seq_base)
			topic_update_state(rel, partition, start_log_at, &recs[0]->seq);
	}
	buf = topic_lock_tail(rel, partition);

	/* before anything is appended, while the tail is locked: see topic_producers.c */
	topic_producers_register(rel, partition,
							 TopicPageGetOpaque(BufferGetPage(buf))->first_seq +
							 PageGetMaxOffsetNumber(BufferGetPage(buf)));

	while (i < nrecs)
	{
		Page		page = BufferGetPage(buf);
		PageHeader	phdr = (PageHeader) page;
		TopicPageOpaque opaque = TopicPageGetOpaque(page);
		uint16		old_lower = phdr->pd_lower;
		uint16		old_upper = phdr->pd_upper;
		Size		lower = old_lower;
		Size		upper = old_upper;
		int64		next_seq = opaque->first_seq + PageGetMaxOffsetNumber(page);
		int64		newpage_seq = -1;
		int			nfit = 0;
		int			j;

		/* pass 1: how many records fit on this page */
		for (j = i; j < nrecs; j++)
		{
			TopicNewRecord *rec = recs[j];
			int64		gap = 0;
			Size		need;

			if (rec->seq >= 0)
			{
				if (rec->seq < next_seq)
				{
					UnlockReleaseBuffer(buf);
					topic_seq_too_low(rel, partition, rec->seq, next_seq);
				}
				gap = rec->seq - next_seq;
			}
			else if (next_seq > TOPIC_MAX_SEQ)
			{
				UnlockReleaseBuffer(buf);
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("partition %d of topic \"%s\" has no seqs left",
								partition, topic_user_relname(rel)),
						 errdetail("A seq may be at most " INT64_FORMAT ".", TOPIC_MAX_SEQ)));
			}
			need = INTALIGN(rec->itemsz) + sizeof(ItemIdData);
			/* (a gap of more line pointers than a page has is compared first) */
			if (gap > 0 &&
				(gap > (int64) ((upper - lower) / sizeof(ItemIdData)) ||
				 (Size) gap * sizeof(ItemIdData) + need > upper - lower))
			{
				/* the skipped seqs do not fit here: start a page at rec->seq */
				newpage_seq = rec->seq;
				break;
			}
			need += gap * sizeof(ItemIdData);
			if (need > upper - lower ||
				(lower - SizeOfPageHeaderData) / sizeof(ItemIdData) + gap + 1 > MaxOffsetNumber)
			{
				newpage_seq = next_seq;
				break;
			}
			lower += (gap + 1) * sizeof(ItemIdData);
			upper -= INTALIGN(rec->itemsz);
			next_seq += gap + 1;
			nfit++;
		}

		/* pass 2: write them */
		if (nfit > 0)
		{
			START_CRIT_SECTION();
			for (j = i; j < i + nfit; j++)
			{
				TopicNewRecord *rec = recs[j];
				int64		gap = rec->seq >= 0 ?
				rec->seq - (opaque->first_seq + PageGetMaxOffsetNumber(page)) : 0;
				ItemId		itemid;

				while (gap-- > 0)
				{
					itemid = PageGetItemId(page, PageGetMaxOffsetNumber(page) + 1);
					ItemIdSetUnused(itemid);
					phdr->pd_lower += sizeof(ItemIdData);
				}
				if (!rec->ts_given)
					rec->ts = now;
				phdr->pd_upper -= INTALIGN(rec->itemsz);
				itemid = PageGetItemId(page, PageGetMaxOffsetNumber(page) + 1);
				phdr->pd_lower += sizeof(ItemIdData);
				ItemIdSetNormal(itemid, phdr->pd_upper, rec->itemsz);
				topic_record_write((char *) page + phdr->pd_upper, rec, xid, cid);
				if (rec->dead)
					ItemIdMarkDead(itemid);

				rec->seq = opaque->first_seq + PageGetMaxOffsetNumber(page) - 1;
				rec->partition = partition;
				ItemPointerSet(&rec->tid, BufferGetBlockNumber(buf),
							   PageGetMaxOffsetNumber(page));
			}
			MarkBufferDirty(buf);
			topic_xlog_append(rel, buf, old_lower, old_upper);
			END_CRIT_SECTION();
			i += nfit;
		}

		if (i < nrecs)
		{
			Assert(newpage_seq >= 0);
			/* a page that took nothing though empty would repeat forever */
			if (nfit == 0 && PageGetMaxOffsetNumber(page) == 0 &&
				newpage_seq == opaque->first_seq)
			{
				UnlockReleaseBuffer(buf);
				elog(ERROR, "record of %zu bytes does not fit an empty page",
					 recs[i]->itemsz);
			}
			buf = topic_add_tail(rel, partition, buf, newpage_seq);
		}
	}
	UnlockReleaseBuffer(buf);
}

/*
 * Append prepared records (partition resolved, topic_record_prepare done).
 * Records of a partition keep their relative order; on return each record
 * has its seq, ts and tid.
 */
void
topic_append(Relation rel, TopicNewRecord *recs, int nrecs, CommandId cid)
{
	TopicNewRecord **byp;
	int		   *counts;
	int		   *starts;
	int			npartitions = topic_get_cache(rel)->npartitions;
	TimestampTz now = GetCurrentTimestamp();
	int			i;
	int			p;

	topic_wait_note_change(rel);
	/* serializable readers of the topic hold predicate locks on all of it */
	CheckForSerializableConflictIn(rel, NULL, InvalidBlockNumber);
	if (nrecs == 1)
	{
		TopicNewRecord *one = &recs[0];

		topic_append_partition(rel, one->partition, &one, 1, cid, now);
		return;
	}

	/* a stable counting sort by partition */
	counts = palloc0(sizeof(int) * (npartitions + 1));
	starts = palloc(sizeof(int) * (npartitions + 1));
	byp = palloc(sizeof(TopicNewRecord *) * nrecs);
	for (i = 0; i < nrecs; i++)
		counts[recs[i].partition]++;
	starts[0] = 0;
	for (p = 0; p < npartitions; p++)
		starts[p + 1] = starts[p] + counts[p];
	for (i = 0; i < nrecs; i++)
		byp[starts[recs[i].partition]++] = &recs[i];

	for (p = 0, i = 0; p < npartitions; p++)
	{
		if (counts[p] > 0)
			topic_append_partition(rel, p, byp + i, counts[p], cid, now);
		i += counts[p];
	}
	pfree(counts);
	pfree(starts);
	pfree(byp);
}

/* ------------------------------------------------------------------------
 * Seeking
 * ------------------------------------------------------------------------
 */

/*
 * Where a search for seq starts: the directory's page for it, whose first
 * seq must be *entry_seq, or the head (*entry_seq -1).
 */
static BlockNumber
find_page_start(Relation rel, int32 partition, TopicPartitionState *state, int64 seq,
				int64 *entry_seq)
{
	BlockNumber blkno = BlockNumberIsValid(state->dir_root) ?
		topic_dir_lookup(rel, partition, state, seq, entry_seq) : InvalidBlockNumber;

	if (BlockNumberIsValid(blkno))
		return blkno;
	*entry_seq = -1;
	return state->head;
}

/*
 * Where to look again after the page "failed" turned out removed: from a
 * new state, through the directory, or from the head when the directory
 * still leads to the removed page.  It does for a seq at or above the log
 * start that falls in a gap of explicit seqs right after removed pages: the
 * directory keeps the entries of removed pages until a whole directory page
 * can go (topic_dir_trim), and the last entry at or before such a seq is a
 * removed page.  The chain from the head is always live.  A seq below the
 * new log start is raised to it.
 */
static BlockNumber
find_page_again(Relation rel, int32 partition, int64 *seq,
				TopicPartitionState *state, BlockNumber failed, int64 *entry_seq)
{
	BlockNumber blkno;

	topic_get_state(rel, partition, state);
	if (*seq < state->log_start_seq)
		*seq = state->log_start_seq;
	if (!BlockNumberIsValid(state->head))
		return InvalidBlockNumber;
	blkno = find_page_start(rel, partition, state, *seq, entry_seq);
	if (blkno != failed)
		return blkno;
	*entry_seq = -1;
	return state->head;
}

/*
 * The page search behind topic_find_page and topic_find_page_at_or_before:
 * O(log n) through the directory, then along the chain for pages the
 * directory does not know yet.  Forward, a seq in a gap between pages (or
 * below the first page) gives the next page after it, and a seq below the
 * log start reads from the head.  at_or_before gives the page before the
 * gap instead, and nothing for a seq below the log start.
 */
static BlockNumber
find_page(Relation rel, int32 partition, int64 seq, TopicPartitionState *state,
		  bool at_or_before)
{
	BlockNumber blkno;
	BlockNumber best = InvalidBlockNumber;
	int64		entry_seq;

	if (!BlockNumberIsValid(state->head) ||
		(at_or_before && seq < state->log_start_seq))
		return InvalidBlockNumber;
	blkno = find_page_start(rel, partition, state, seq, &entry_seq);

	for (;;)
	{
		Buffer		buf = topic_lock_live_page(rel, blkno, partition, BUFFER_LOCK_SHARE,
											   NULL, seq);
		Page		page;
		TopicPageOpaque opaque;
		BlockNumber next;
		bool		found;

		/*
		 * The directory's page must still start at its entry's seq.  One
		 * that does not was removed and reused for newer records, which can
		 * look like a live page after a gap of explicit seqs: a data page a
		 * crash left without an entry under builds before 0.17 (see
		 * topic_add_tail) follows such an entry, and its records were
		 * skipped.  Looking again leads to the same entry, so the search
		 * goes on from the head.
		 */
		if (BufferIsValid(buf) && entry_seq >= 0 &&
			TopicPageGetOpaque(BufferGetPage(buf))->first_seq != entry_seq)
		{
			UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
		}
		entry_seq = -1;			/* pages after it are reached by live links */
		if (!BufferIsValid(buf))
		{
			/* retention removed the page since we read the state */
			int64		want = seq;

			blkno = find_page_again(rel, partition, &want, state, blkno, &entry_seq);
			if (!BlockNumberIsValid(blkno) || (at_or_before && want != seq))
				return InvalidBlockNumber;
			seq = want;
			best = InvalidBlockNumber;
			continue;
		}
		page = BufferGetPage(buf);
		opaque = TopicPageGetOpaque(page);
		if (at_or_before && opaque->first_seq > seq)
		{
			/* past a gap: the answer is the page before it */
			UnlockReleaseBuffer(buf);
			return best;
		}
		best = blkno;
		next = opaque->next;
		found = seq < opaque->first_seq + PageGetMaxOffsetNumber(page) ||
			!BlockNumberIsValid(next);
		UnlockReleaseBuffer(buf);
		if (found)
			return blkno;
		blkno = next;
	}
}

/*
 * The data page of a partition that holds "seq" (or, for a seq in a gap
 * between pages, the next page after it), or InvalidBlockNumber when the
 * partition has no page at or after seq.
 */
BlockNumber
topic_find_page(Relation rel, int32 partition, int64 seq,
				TopicPartitionState *state)
{
	return find_page(rel, partition, seq, state, false);
}

/*
 * For a walk backward: the data page of a partition holding the largest seq
 * <= "seq" (the page holding seq itself, or for a seq in a gap between pages,
 * the page before the gap), or InvalidBlockNumber when no page holds a seq
 * <= seq at or above the log start.
 */
BlockNumber
topic_find_page_at_or_before(Relation rel, int32 partition, int64 seq,
							 TopicPartitionState *state)
{
	return find_page(rel, partition, seq, state, true);
}
