/*-------------------------------------------------------------------------
 *
 * pg_topics.h
 *	  Shared declarations of the pg_topics extension: the on-disk format of
 *	  the topic_log table access method and the interfaces between its files.
 *
 * ON-DISK LAYOUT OF A TOPIC RELATION (main fork)
 *
 * Every page uses the standard page layout (PageHeaderData, line pointers,
 * pd_lower/pd_upper) so that GenericXLog can log compact deltas and full
 * page images without the hole, and ends with a TopicPageOpaqueData special
 * area whose page_id identifies pg_topics pages.
 *
 *	block 0			metapage: magic, format version, partition count and
 *					the block numbers of the partition-state pages.
 *	state pages		an array of TopicPartitionState, one per partition: log
 *					start, head and tail data pages, the directory root.
 *	data pages		records of exactly one partition, in seq order.  The
 *					record in line pointer n has seq = first_seq + n - 1, so a
 *					seq is found inside its page in O(1).  Data pages of a
 *					partition form a singly linked chain (opaque->next).
 *	free pages		data pages removed by retention, on their partition's
 *					free list until an append reuses them.
 *	directory pages	per partition, an append-only B-link tree over the data
 *					pages: entries (first seq, floor timestamp, block) sorted
 *					by seq, every level right-linked.  It turns a seek into
 *					O(log n) page reads with no index to maintain per record.
 *
 * Pages of different partitions interleave in the file; a full scan reads the
 * file in physical order and skips the non-data pages.
 *
 * FORMAT VERSIONING: the metapage carries TOPIC_MAGIC and TOPIC_FORMAT_VERSION.
 * Structures only ever gain fields at their end; a reader refuses a newer
 * major format.
 *
 * LOCKING CONTRACT (buffer content locks)
 *
 *	- Appending to a partition requires the exclusive lock on its tail data
 *	  page.  That lock serializes seq assignment, so seq order equals storage
 *	  order, and it also serializes the directory maintenance of the partition
 *	  (only the holder of the tail lock adds directory entries).
 *	- Lock order: tail data page, then a new page, then the state page, then
 *	  directory pages one at a time.  The state page and the metapage are
 *	  never held while acquiring a data page lock.
 *	- Readers hold one page lock at a time (B-link right-links make this
 *	  safe), and read record bytes of a pinned data page without a lock:
 *	  records never move and are never overwritten; only their hint flags
 *	  change.
 *
 * Portions Copyright (c) 2026, pg_topics developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_TOPICS_H
#define PG_TOPICS_H

#include "postgres.h"

#include "access/tableam.h"
#include "access/xlogdefs.h"
#include "fmgr.h"
#include "datatype/timestamp.h"
#include "storage/buf.h"
#include "storage/bufmgr.h"
#include "storage/lockdefs.h"
#include "nodes/parsenodes.h"
#include "storage/bufpage.h"
#include "utils/rel.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

/* ------------------------------------------------------------------------
 * Format constants
 * ------------------------------------------------------------------------
 */
#define TOPIC_MAGIC				0x70546f70	/* "pToP" */
#define TOPIC_FORMAT_VERSION	1
#define TOPIC_PAGE_ID			0xF7A1

#define TOPIC_METAPAGE_BLKNO	0
#define TOPIC_MAX_PARTITIONS	10000

/*
 * The highest seq a record may have.  Below PG_INT64_MAX by more than a
 * page's line pointers, so that no seq computed from a page (its first seq
 * plus its line pointers) can overflow.
 */
#define TOPIC_MAX_SEQ			(PG_INT64_MAX - 65536)

/*
 * SQLSTATEs of pg_topics' own: class 22 (data exception), subclass "T" from
 * the range the SQL standard leaves to implementations (PostgreSQL's own
 * are "P").  They let a client tell the conditions Kafka and Kinesis
 * clients act on from a mistaken argument (22023): a read position outside
 * the partition's log (OffsetOutOfRange: reset the position) and an expired
 * shard iterator (ExpiredIteratorException: get a new one).  A handler of
 * class 22 still catches both.
 */
#define ERRCODE_TOPIC_OFFSET_OUT_OF_RANGE	MAKE_SQLSTATE('2','2','T','0','1')
#define ERRCODE_TOPIC_EXPIRED_ITERATOR		MAKE_SQLSTATE('2','2','T','0','2')

/* page kinds (TopicPageOpaqueData.kind) */
#define TOPIC_PAGE_META			1
#define TOPIC_PAGE_STATE		2
#define TOPIC_PAGE_DATA			3
#define TOPIC_PAGE_DIR			4
#define TOPIC_PAGE_FREE			5	/* removed by retention, on the partition's
									 * free list (opaque->next links it) */

/* page flags */
#define TOPIC_PAGE_ALL_FROZEN	0x0001	/* every record frozen or invalid */
#define TOPIC_PAGE_ALL_VISIBLE	0x0002	/* full page whose normal line pointers
										 * are all records committed before
										 * every snapshot's horizon (aborted
										 * ones are LP_DEAD): readers need
										 * not look at the records.  May be
										 * set without WAL (a hint), when it
										 * is the only change */

#define TOPIC_PAGE_SPLIT_INCOMPLETE	0x0004	/* dir: right half of a split whose
												 * parent entry is not made yet */
#define TOPIC_PAGE_NO_DIR_ENTRY		0x0008	/* data: linked, its directory
												 * entry not made yet (see
												 * topic_add_tail) */

/* A page a reader may take whole, without a visibility check per record. */
#define TopicPageAllVisible(page) \
	((TopicPageGetOpaque(page)->flags & TOPIC_PAGE_ALL_VISIBLE) != 0)

/*
 * ... for this snapshot.  Not for one taken during recovery: the primary's
 * VACUUM flags a page by the primary's horizon, which a standby's snapshot
 * may be older than (heap's scans ignore PD_ALL_VISIBLE there, for the same
 * reason).  The flag reaches a standby with WAL (a page whose aborted
 * records VACUUM marked dead) or in a full-page image.
 */
#define TopicPageAllVisibleFor(page, snapshot) \
	(TopicPageAllVisible(page) && \
	 !((snapshot) != NULL && (snapshot)->takenDuringRecovery))

/* The fixed columns of a topic relation. */
#define Anum_topic_partition	1
#define Anum_topic_seq			2
#define Anum_topic_ts			3
#define Anum_topic_key			4
#define Anum_topic_value		5
#define Anum_topic_headers		6
#define Natts_topic				6

/* ------------------------------------------------------------------------
 * Page special area, common to all page kinds
 * ------------------------------------------------------------------------
 */
typedef struct TopicPageOpaqueData
{
	int64		first_seq;		/* data: seq of line pointer 1; dir: leading
								 * entries whose children retention freed */
	int64		ts_floor;		/* data: highest ts of the partition before
								 * this page (monotonic, for time seeks) */
	BlockNumber next;			/* data: next page of the partition;
								 * dir: right sibling */
	int32		partition;		/* data/dir: owning partition, else -1 */
	uint16		kind;			/* TOPIC_PAGE_* */
	uint16		level;			/* dir: 0 for leaves */
	uint16		flags;			/* TOPIC_PAGE_ALL_FROZEN, ... */
	uint16		page_id;		/* TOPIC_PAGE_ID */
} TopicPageOpaqueData;

typedef TopicPageOpaqueData *TopicPageOpaque;

#define TopicPageGetOpaque(page) \
	((TopicPageOpaque) PageGetSpecialPointer(page))

/*
 * The line pointer offset of "seq" on a data page whose first seq is
 * first_seq: below FirstOffsetNumber for a seq before the page, past
 * MaxOffsetNumber for one after it.  Seqs are bigints a query may give up
 * to its largest value, where seq - first_seq + 1 overflowed (until 0.13
 * "seq >= 9223372036854775807" returned every record from the page's
 * first, and "seq <= 9223372036854775807 ORDER BY seq DESC" none).
 */
static inline int64
TopicSeqOffset(int64 seq, int64 first_seq)
{
	int64		d = seq - first_seq;	/* both >= -1: cannot overflow */

	return d >= MaxOffsetNumber ? (int64) MaxOffsetNumber + 1 : d + 1;
}

/* ------------------------------------------------------------------------
 * Metapage contents (block 0, stored at PageGetContents)
 * ------------------------------------------------------------------------
 */
typedef struct TopicMetaData
{
	uint32		magic;
	uint32		version;
	int32		npartitions;
	uint32		nstatepages;
	BlockNumber statepages[FLEXIBLE_ARRAY_MEMBER];
} TopicMetaData;

/* ------------------------------------------------------------------------
 * Per-partition state, an array of these fills each state page
 * ------------------------------------------------------------------------
 */
typedef struct TopicPartitionState
{
	int64		log_start_seq;	/* lowest seq a reader may ask for */
	int64		next_seq_base;	/* next seq while the partition has no
								 * data page */
	BlockNumber head;			/* first data page, or InvalidBlockNumber */
	BlockNumber tail;			/* last data page, or InvalidBlockNumber */
	BlockNumber dir_root;		/* directory root, or InvalidBlockNumber */
	BlockNumber stable_hint;	/* every record before this data page is of a
								 * finished transaction (a hint) */
	BlockNumber frozen_upto;	/* every data page before this one in the
								 * chain is all-frozen (VACUUM resumes here) */
	uint32		dir_level;		/* level of dir_root */
	uint32		npages;			/* data pages of the partition */
	BlockNumber free_head;		/* first page of the partition's free list
								 * (pages removed by retention, reused by
								 * appends), or 0 (block 0 is the metapage,
								 * so 0 never names a free page) */
} TopicPartitionState;

#define TOPIC_SPECIAL_SIZE		MAXALIGN(sizeof(TopicPageOpaqueData))
#define TOPIC_CONTENT_SIZE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - TOPIC_SPECIAL_SIZE)
#define TOPIC_STATES_PER_PAGE \
	((int) (TOPIC_CONTENT_SIZE / sizeof(TopicPartitionState)))

/*
 * A partition count that takes effect when the transaction that set it
 * commits (alter_topic), kept at the end of the metapage's contents, where
 * builds before 0.17 left zeros (no growth).  The metapage changes with WAL
 * but not with the transaction: were the count itself raised in the
 * growing transaction, a crash or an error between that WAL record and the
 * commit would keep the partitions the catalog's count never got.  Readers
 * take npartitions from here once xid has committed; the next growth and
 * VACUUM fold it into TopicMetaData.npartitions (before relfrozenxid can
 * pass xid, so its commit status can always be looked up).
 */
typedef struct TopicMetaGrowth
{
	TransactionId xid;			/* InvalidTransactionId: none */
	int32		npartitions;	/* the count once xid has committed */
} TopicMetaGrowth;

#define TOPIC_META_GROWTH_OFF \
	(TOPIC_CONTENT_SIZE - MAXALIGN(sizeof(TopicMetaGrowth)))
#define TOPIC_MAX_STATE_PAGES \
	((int) ((TOPIC_META_GROWTH_OFF - offsetof(TopicMetaData, statepages)) / sizeof(BlockNumber)))

/* ------------------------------------------------------------------------
 * Directory entries (items of directory pages, 8-byte aligned)
 * ------------------------------------------------------------------------
 */
typedef struct TopicDirEntry
{
	int64		seq;			/* first seq of the child */
	int64		ts_floor;		/* ts_floor of the child */
	BlockNumber blkno;			/* child: data page at level 0, else a
								 * directory page one level down */
	uint32		reserved;
} TopicDirEntry;

#define TOPIC_DIR_CAPACITY	((int) (TOPIC_CONTENT_SIZE / sizeof(TopicDirEntry)))

/* ------------------------------------------------------------------------
 * Records (items of data pages)
 *
 * A record is a 17-byte header followed by the key, value and headers as
 * varlenas (each present unless its null flag is set).  Short varlenas are
 * stored unaligned; 4-byte-header varlenas are aligned to 4 bytes with zero
 * padding, the convention heap tuples use (a short varlena never starts with
 * a zero byte).  Items start at 4-byte aligned offsets; the header is read
 * with memcpy, so it needs no alignment of its own.
 * ------------------------------------------------------------------------
 */
#define TREC_XMIN_OFF			0	/* TransactionId */
#define TREC_CID_OFF			4	/* CommandId, for own-transaction visibility */
#define TREC_TS_OFF				8	/* TimestampTz */
#define TREC_FLAGS_OFF			16	/* uint8 */
#define TREC_HEADER_SIZE		17

#define TREC_NULL_KEY			0x01
#define TREC_NULL_VALUE			0x02
#define TREC_NULL_HEADERS		0x04
#define TREC_XMIN_COMMITTED		0x08	/* hint: xmin committed */
#define TREC_XMIN_INVALID		0x10	/* xmin aborted (hint, or set by VACUUM) */
#define TREC_XMIN_FROZEN		0x20	/* set by VACUUM: visible to everyone */

/* Records inline larger than this get their fields compressed or toasted. */
#define TOPIC_MAX_INLINE_RECORD	(BLCKSZ / 4)

/* A decoded record (pointers into the page or into palloc'd memory). */
typedef struct TopicRecord
{
	int32		partition;
	int64		seq;
	TimestampTz ts;
	TransactionId xmin;
	CommandId	cid;
	uint8		flags;
	Datum		key;			/* valid unless TREC_NULL_KEY */
	Datum		value;			/* valid unless TREC_NULL_VALUE */
	Datum		headers;		/* valid unless TREC_NULL_HEADERS */
} TopicRecord;

/* A record to append, built by produce or from a slot. */
typedef struct TopicNewRecord
{
	int32		partition;		/* resolved before appending */
	int64		seq;			/* in: -1 to assign, else requested seq;
								 * out: the seq given */
	bool		ts_given;		/* in: false to stamp the append time */
	TimestampTz ts;				/* in: if ts_given; out: stored */
	struct varlena *key;		/* NULL for a null key (untoasted) */
	struct varlena *value;
	struct varlena *headers;
	Size		itemsz;			/* encoded size, set by topic_record_prepare */
	ItemPointerData tid;		/* out: where it went */

	/*
	 * Zero for a record this transaction produces.  VACUUM FULL copies
	 * records of other transactions: their xmin, command id (as heap's
	 * rewrite keeps t_cid, for cmin) and TREC_XMIN_* flags, and a dead line
	 * pointer for a placeholder that only keeps a seq in use.
	 */
	TransactionId xmin;
	CommandId	cid;			/* with xmin only */
	uint8		xmin_flags;
	bool		dead;
} TopicNewRecord;

/* Visibility of a record for a reader. */
typedef enum TopicRecordStatus
{
	TREC_VISIBLE,				/* return it */
	TREC_ABORTED,				/* never visible: skip it */
	TREC_IN_PROGRESS			/* not visible yet, may become visible */
} TopicRecordStatus;

/* ------------------------------------------------------------------------
 * Backend-local cache of a topic's shape, kept in rd_amcache
 * ------------------------------------------------------------------------
 */
typedef struct TopicRelCache
{
	int32		npartitions;
	int32		nstatepages;
	BlockNumber *statepages;	/* nstatepages entries */
	BlockNumber *tail_hint;		/* npartitions entries: last known tail */
} TopicRelCache;

/* ------------------------------------------------------------------------
 * Settings and the immutability checks (pg_topics.c)
 * ------------------------------------------------------------------------
 */
extern int	topics_max_record_bytes;
extern int	topics_timestamp_after_max;
extern int	topics_shard_iterator_ttl;

extern void topic_on_conflict_error(const char *relname) pg_attribute_noreturn();
extern void topic_immutable_error(CmdType cmd, const char *relname) pg_attribute_noreturn();
extern void topic_lock_error(const char *relname) pg_attribute_noreturn();

/* ------------------------------------------------------------------------
 * topic_storage.c: metapage, state pages, appends, seeks
 * ------------------------------------------------------------------------
 */
extern void topic_init_storage(SMgrRelation srel, bool needs_wal,
							   const TopicPartitionState *carry, int npartitions);
extern void topic_reset_storage(Relation rel, const TopicPartitionState *carry,
								int npartitions);
extern TopicPartitionState *topic_read_all_states(Relation rel, int *npartitions);
extern TopicRelCache *topic_get_cache(Relation rel);
extern void topic_check_partition(Relation rel, int32 partition);
extern void topic_get_state(Relation rel, int32 partition, TopicPartitionState *state);
extern bool topic_raise_empty_partition(Relation rel, int32 partition, int64 seq);
extern int64 topic_partition_next_seq(Relation rel, int32 partition,
									  TopicPartitionState *state);
extern void topic_check_partition_count(Relation rel, int from, int to);
extern void topic_set_partitions(Relation rel, int npartitions, bool at_commit);
extern void topic_settle_growth(Relation rel);
extern void topic_grow_partitions(Relation rel, int npartitions);
extern int	topic_partitions_at_commit(Relation rel);
extern void topic_append(Relation rel, TopicNewRecord *recs, int nrecs,
						 CommandId cid);
extern BlockNumber topic_find_page(Relation rel, int32 partition, int64 seq,
								   TopicPartitionState *state);
extern BlockNumber topic_find_page_at_or_before(Relation rel, int32 partition, int64 seq,
												TopicPartitionState *state);
extern bool topic_page_is_ours(Page page);
extern bool topic_page_is_data(Page page);
extern void topic_not_data_page(Relation rel, Page page, BlockNumber blkno,
								int32 partition) pg_attribute_noreturn();
extern bool topic_page_is_data_of(Page page, int32 partition);
extern Buffer topic_read_tail(Relation rel, int32 partition, TopicPartitionState *state);
extern Buffer topic_new_buffer(Relation rel);
extern Buffer topic_take_page(Relation rel, int32 partition, Buffer *statebuf, int *idx,
							  BlockNumber *free_next);
extern Buffer topic_lock_data_page(Relation rel, BlockNumber blkno, int32 partition,
								   int mode, BufferAccessStrategy strategy);
extern void topic_page_init(Page page, uint16 kind, int32 partition);
extern Buffer topic_lock_live_page(Relation rel, BlockNumber blkno, int32 partition,
								   int mode, BufferAccessStrategy strategy,
								   int64 expect_seq);
extern bool topic_page_is_live(Relation rel, Page page, int32 partition, int64 expect_seq);
extern TopicPartitionState *topic_state_ptr(Page statepage, int idx);
extern Buffer topic_lock_state_page(Relation rel, int32 partition, int mode, int *idx);
extern void topic_update_state(Relation rel, int32 partition,
							   void (*mutate) (TopicPartitionState *state, void *arg),
							   void *arg);

/* ------------------------------------------------------------------------
 * topic_reader.c: reading a partition in seq order
 * ------------------------------------------------------------------------
 */
typedef enum TopicReadMode
{
	TOPIC_READ_STABLE,			/* stop at the first in-progress record */
	TOPIC_READ_MVCC				/* return what the snapshot sees */
} TopicReadMode;

/* return false to stop reading; the record is then not consumed */
typedef bool (*TopicRecordCallback) (const TopicRecord *rec, void *arg);

extern void topic_check_read_position(Relation rel, int32 partition, int64 seq);

/* fetch()'s arguments, checked (topic_api.c) */
#define TOPIC_FETCH_NARGS	6
typedef struct TopicFetchArgs
{
	Oid			relid;
	int32		partition;
	int64		from_seq;
	int32		max_records;
	int32		max_bytes;		/* -1: no limit */
	int64		wait_ms;
} TopicFetchArgs;

extern void topic_check_read_range(int64 from_seq, int32 max_records);
extern void topic_fetch_check_args(const Datum *values, const bool *nulls,
								   TopicFetchArgs *args);
extern Relation topic_fetch_open(const TopicFetchArgs *args);

/* a read that collects records into a tuplestore (topic_collect_record) */
typedef struct TopicCollectState
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	int64		max_records;
	int64		max_bytes;		/* -1: no limit */
	int64		count;
	int64		bytes;
	int64		last_seq;		/* seq of the last record collected */
	TimestampTz last_ts;
} TopicCollectState;

extern bool topic_collect_record(const TopicRecord *rec, void *arg);

extern int64 topic_read_partition(Relation rel, int32 partition, int64 from_seq,
								  int64 to_seq, Snapshot snapshot,
								  TopicReadMode mode, bool follow_log_start,
								  TopicRecordCallback cb, void *arg);

/* ------------------------------------------------------------------------
 * topic_xlog.c: WAL for appends, and recovery conflicts for freezing
 * ------------------------------------------------------------------------
 */
extern void topic_xlog_append(Relation rel, Buffer buf, uint16 old_lower,
							  uint16 old_upper);
extern void topic_xlog_snapshot_conflict(Relation rel, TransactionId horizon);

/* a page changed in a critical section, and where (see topic_xlog_changes) */
#define TOPIC_MAX_CHANGE_RANGES 2
typedef struct TopicPageChange
{
	Buffer		buf;
	int			nranges;		/* 0: log the whole page */
	uint16		offset[TOPIC_MAX_CHANGE_RANGES];
	uint16		length[TOPIC_MAX_CHANGE_RANGES];
} TopicPageChange;

/* Start describing a change to buf's page: logged whole unless ranges are added. */
static inline void
topic_change_init(TopicPageChange *c, Buffer buf)
{
	c->buf = buf;
	c->nranges = 0;
}

/* The bytes at ptr (within buf's page) changed. */
static inline void
topic_change_add(TopicPageChange *c, const void *ptr, Size len)
{
	Assert(c->nranges < TOPIC_MAX_CHANGE_RANGES);
	c->offset[c->nranges] = (uint16) ((const char *) ptr - (const char *) BufferGetPage(c->buf));
	c->length[c->nranges] = (uint16) len;
	c->nranges++;
}

extern void topic_xlog_changes(Relation rel, const TopicPageChange *changes, int n);

/* ------------------------------------------------------------------------
 * topic_directory.c: the per-partition B-link tree over data pages
 * ------------------------------------------------------------------------
 */
extern void topic_dir_append(Relation rel, int32 partition, Buffer databuf);
extern BlockNumber topic_dir_lookup(Relation rel, int32 partition,
									const TopicPartitionState *state, int64 seq,
									int64 *entry_seq);
extern BlockNumber topic_dir_lookup_ts(Relation rel, int32 partition,
									   const TopicPartitionState *state, TimestampTz ts);
extern int64 topic_dir_trim(Relation rel, int32 partition, int64 live_seq);
extern int	topics_directory_fanout;
extern int	topics_debug_fail_in_split;

/* tests: where growing a topic's partitions fails (pg_topics.debug_fail_in_growth) */
typedef enum TopicGrowthFailure
{
	TOPIC_GROWTH_FAIL_OFF,
	TOPIC_GROWTH_FAIL_ERROR,	/* error after the count's WAL record */
	TOPIC_GROWTH_FAIL_CRASH,	/* PANIC after the count's WAL record */
	TOPIC_GROWTH_FAIL_CRASH_IN_STATE_PAGES	/* PANIC after the first state
											 * page's record */
} TopicGrowthFailure;
extern int	topics_debug_fail_in_growth;
extern bool topics_debug_skip_directory_entry;

/* ------------------------------------------------------------------------
 * topic_record.c: record encoding and decoding
 * ------------------------------------------------------------------------
 */
extern void topic_record_prepare(Relation rel, TopicNewRecord *rec);
extern void topic_record_fit(Relation rel, TopicNewRecord *rec);
extern void topic_record_write(char *dst, const TopicNewRecord *rec,
							   TransactionId xmin, CommandId cid);
extern void topic_record_decode(Page page, OffsetNumber off, TopicRecord *rec);
extern Size topic_record_payload_size(const TopicRecord *rec);
extern void topic_record_values(const TopicRecord *rec, Datum *values, bool *nulls);
extern void topic_record_deform(Page page, OffsetNumber off, int natts,
								Datum *values, bool *isnull);
extern void topic_check_record_size(Relation rel, Size keylen, Size valuelen,
									Size headerslen);

/*
 * Walks hand out records a few places ahead of the one they return to
 * topic_prefetch_record.  A page that is in shared buffers but not in the
 * CPU's caches (the usual state of a log being replayed or caught up on)
 * otherwise costs a memory stall on the first touch of every record, which
 * was the largest single item in the profile of a scan; the walk knows the
 * next offsets long before the decoding needs them.  The distance covers
 * the latency of a record's decoding and the executor's work on the ones
 * in between; 2 to 6 measured alike.
 */
#define TOPIC_PREFETCH_DISTANCE 4

/*
 * Ask for the first two cache lines of a record: its header and the
 * headers of key and value (the values themselves are read by whoever
 * uses them).  Only a hint: it never faults, and costs nothing when the
 * record is already cached.
 */
static inline void
topic_prefetch_record(Page page, OffsetNumber off)
{
#if defined(__GNUC__) || defined(__clang__)
	char	   *item = (char *) PageGetItem(page, PageGetItemId(page, off));

	__builtin_prefetch(item);
	__builtin_prefetch(item + 64);
#endif
}

/* ------------------------------------------------------------------------
 * topic_visibility.c
 * ------------------------------------------------------------------------
 */
extern TopicRecordStatus topic_record_status(Relation rel, Buffer buf, char *item,
											 Snapshot snapshot);
extern TopicRecordStatus topic_record_status_now(Buffer buf, char *item);
extern bool topic_xid_in_progress_now(Buffer buf, char *item);
extern XLogRecPtr topic_record_commit_unflushed(Buffer buf, char *item, bool page_unflushed);
extern bool topic_page_unflushed(Buffer buf);

/* The last answer for a hinted-committed xmin, for one reader and snapshot. */
typedef struct TopicStatusCache
{
	bool		valid;
	TransactionId xmin;
	TopicRecordStatus status;
} TopicStatusCache;

extern TopicRecordStatus topic_record_status_cached(Relation rel, Buffer buf, char *item,
													Snapshot snapshot,
													TopicStatusCache *cache);

/*
 * A walk of one partition in seq order (topic_reader.c): the state between
 * two records handed out.  Large (one offset per line pointer): palloc it.
 */
typedef struct TopicReader
{
	Relation	rel;
	int32		partition;
	int64		from_seq;
	int64		to_seq;			/* -1: to the end */
	Snapshot	snapshot;
	TopicReadMode mode;
	BlockNumber blkno;			/* next page to read */
	int64		expect;			/* first seq expected on it */
	int64		position;		/* where the walk got to (see topic_read_partition) */
	XLogRecPtr	passed_lsn;		/* LSN of the last page where the walk passed
								 * records it did not hand out (aborted ones,
								 * dead or unused line pointers) */
	bool		first;			/* no page read yet */
	bool		follow_log_start;	/* stable mode: when retention removes
									 * the first page, go on at the log
									 * start instead of failing */
	bool		stop;
	bool		backward;		/* highest seq first; expect is the next
								 * seq wanted */
	TopicStatusCache status_cache;
	Buffer		buf;			/* pinned page whose records are handed out */
	Page		page;			/* where they are read: buf's page, or the
								 * copy */
	char	   *copy;			/* on a standby: the page, copied under its
								 * lock, handed out instead (see
								 * topic_reader.c) */
	int			nvis;
	int			ivis;
	OffsetNumber vis[MaxOffsetNumber];
} TopicReader;

extern void topic_reader_begin(TopicReader *r, Relation rel, int32 partition,
							   int64 from_seq, int64 to_seq, Snapshot snapshot,
							   TopicReadMode mode);
extern void topic_reader_begin_backward(TopicReader *r, Relation rel, int32 partition,
										int64 from_seq, int64 to_seq, Snapshot snapshot);
extern bool topic_reader_next_page(TopicReader *r);
extern void topic_flush_passed(XLogRecPtr lsn);

/*
 * The next record of the walk, or false at its end.  *page stays valid (the
 * buffer pinned) until the next call or topic_reader_end.  Inline: it runs
 * once per record, and mostly hands out the next offset of a loaded page.
 */
static inline bool
topic_reader_next(TopicReader *r, Page *page, OffsetNumber *off)
{
	if (unlikely(r->ivis >= r->nvis) && !topic_reader_next_page(r))
		return false;
	if (r->ivis + TOPIC_PREFETCH_DISTANCE < r->nvis)
		topic_prefetch_record(r->page, r->vis[r->ivis + TOPIC_PREFETCH_DISTANCE]);
	*page = r->page;
	*off = r->vis[r->ivis++];
	return true;
}
extern void topic_reader_end(TopicReader *r);

/* ------------------------------------------------------------------------
 * topic_tableam.c
 * ------------------------------------------------------------------------
 */
extern bool topic_relation_is_topic(Relation rel);
extern Oid	topic_am_oid(void);
extern void topic_indexes_unsupported(const char *relname) pg_attribute_noreturn();
extern void topic_guard_init(void);
extern Oid	topic_rewrite_source(Relation rel);
extern const char *topic_user_relname(Relation rel);
extern bool topic_tupdesc_matches(TupleDesc desc);
extern void topic_check_tupdesc(Relation rel);
extern void topic_store_record_in_slot(TupleTableSlot *slot, const TopicRecord *rec);
extern int32 topic_choose_partition(Relation rel, struct varlena *key);

/* ------------------------------------------------------------------------
 * topic_api.c
 * ------------------------------------------------------------------------
 */
extern void topic_check_access(Oid relid, AclMode mode, bool owner);
extern Oid	topic_relation_owner(Oid relid);
extern Oid	topic_extension_relid(const char *name);
extern Relation topic_open(Oid relid, LOCKMODE lockmode, AclMode mode);
extern Relation topic_open_owned(Oid relid, LOCKMODE lockmode);
extern void topic_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern int64 topic_partition_last_stable(Relation rel, int32 partition, int64 next);
extern bool topic_partition_running_before(Relation rel, int32 partition, int64 seq,
										   TransactionId older_than);

/* ------------------------------------------------------------------------
 * topic_iterator.c
 * ------------------------------------------------------------------------
 */
extern int64 topic_seq_at_time(Relation rel, int32 partition, TimestampTz at);

/* ------------------------------------------------------------------------
 * topic_wait.c: long-poll
 * ------------------------------------------------------------------------
 */
extern void topic_wait_init(void);

/* topic_seekscan.c */
extern void topic_seekscan_init(void);

/* topic_scancolumns.c: the columns a row of TopicFetch or TopicSeek holds */
typedef struct TopicColumnMap
{
	int			ncols;			/* columns of the scan tuple */
	int			last_needed;	/* decode the record this far */
	bool		prefix;			/* columns are 1, 2, ..., ncols */
	AttrNumber	columns[Natts_topic];	/* record column of each, from 1 */
	Datum		values[Natts_topic];	/* a decoded record, when not a prefix */
	bool		isnull[Natts_topic];
} TopicColumnMap;

struct RelOptInfo;
struct PathTarget;
extern bool topic_scan_columns(struct RelOptInfo *rel, struct PathTarget *target, List *quals,
									  TupleDesc desc, List **scan_tlist);
extern void topic_column_map_init(TopicColumnMap *map, List *scan_tlist, int last_needed);
extern void topic_column_map_deform(TopicColumnMap *map, Page page, OffsetNumber off,
									Datum *values, bool *isnull);
extern void topic_fetchscan_init(void);
extern void topic_wait_note_change(Relation rel);
extern void topic_wait_wake(Oid relid);
extern bool topic_wait_possible(void);
extern uint64 topic_wait_generation(Oid relid);
extern bool topic_wait_for_commit(Oid relid, uint64 seen, TimestampTz deadline);
extern int64 topic_interval_ms(Interval *iv, const char *argname);
extern int64 topic_read_wait(Relation rel, int32 partition, int64 from_seq,
							 int64 wait_ms, bool follow_log_start,
							 TopicRecordCallback cb, void *arg, const int64 *count);

/* ------------------------------------------------------------------------
 * topic_retention.c: removing old pages, the maintenance worker
 * ------------------------------------------------------------------------
 */
typedef struct TopicRetentionResult
{
	int64		pages_removed;	/* data pages */
	int64		records_removed;
	int64		dir_pages_freed;	/* directory pages no longer needed */
	int64		log_start_seq;	/* after the run */
	bool		stopped_early;	/* a page was pinned or in use: try later */
} TopicRetentionResult;

extern void topic_apply_retention(Relation rel, int32 partition, TimestampTz cutoff,
								  int64 retention_bytes, bool drop_empty,
								  TopicRetentionResult *res);
extern int	topics_delete_retention;
extern Buffer topic_pop_free_page(Relation rel, int32 partition, BlockNumber *next);
extern void topic_free_list_push(Relation rel, Page page, BlockNumber blkno,
								 int32 partition, TopicPartitionState *st);
extern TransactionId topic_vacuum_free_lists(Relation rel, int npartitions);
extern TransactionId topic_removal_stamp(Relation rel);
extern void topic_free_list_popped(TopicPartitionState *st, BlockNumber free_next);
extern int	topics_maintenance_interval;
extern void topic_maintenance_worker_register(void);

/* ------------------------------------------------------------------------
 * topic_producers.c: open producer transactions per partition
 * ------------------------------------------------------------------------
 */
extern int	topics_max_open_partitions;
extern void topic_producers_init(void);
extern void topic_producers_begin(void);
extern void topic_producers_register(Relation rel, int32 partition, int64 first_seq);
extern bool topic_producers_end_prepared(void (*wake) (Oid relid));
extern bool topic_producers_open_before(Relation rel, int32 partition, int64 seq,
										Snapshot snapshot);

/* ------------------------------------------------------------------------
 * topic_vacuum.c
 * ------------------------------------------------------------------------
 */
extern void topic_vacuum_rel(Relation rel, struct VacuumParams *params,
							 BufferAccessStrategy bstrategy);
extern void topic_vacuum_full(Relation old_rel, Relation new_rel, TransactionId freeze_limit,
							  double *num_tuples, double *tups_vacuumed);

/* ------------------------------------------------------------------------
 * topic_truncation.c: the seqs a TRUNCATE leaves, carried by dumps
 * ------------------------------------------------------------------------
 */
extern void topic_note_truncation(Relation rel, const TopicPartitionState *states,
								  int npartitions);

/* ------------------------------------------------------------------------
 * murmur2.c
 * ------------------------------------------------------------------------
 */
extern int32 kafka_murmur2(const char *data, int len);
extern int32 kafka_partition_for_key(const char *data, int len, int32 npartitions);

#endif							/* PG_TOPICS_H */
