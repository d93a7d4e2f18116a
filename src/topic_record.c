/*-------------------------------------------------------------------------
 *
 * topic_record.c
 *	  Encoding and decoding of records on data pages.
 *
 * See pg_topics.h for the record layout.  The writer and the size
 * calculation share field_size() so that a record always occupies exactly
 * the space reserved for it.  Records too large to keep inline are first
 * compressed field by field and, if still too large, moved to the topic's
 * TOAST relation, just as heap does; readers then hand out TOAST pointers
 * that the rest of PostgreSQL detoasts on use.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_topics.h"

#include "access/detoast.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/*
 * Bytes a varlena takes when written at item offset "cur", including the
 * alignment padding a 4-byte header needs.  Uncompressed values that fit a
 * 1-byte header are written with one, like heap_fill_tuple does.
 */
static Size
field_size(Size cur, struct varlena *v)
{
	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_SHORT(v))
		return VARSIZE_ANY(v);
	if (!VARATT_IS_COMPRESSED(v) && VARATT_CAN_MAKE_SHORT(v))
		return VARATT_CONVERTED_SHORT_SIZE(v);
	return (INTALIGN(cur) - cur) + VARSIZE(v);
}

static Size
field_write(char *item, Size cur, struct varlena *v)
{
	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_SHORT(v))
	{
		Size		sz = VARSIZE_ANY(v);

		memcpy(item + cur, v, sz);
		return cur + sz;
	}
	if (!VARATT_IS_COMPRESSED(v) && VARATT_CAN_MAKE_SHORT(v))
	{
		Size		sz = VARATT_CONVERTED_SHORT_SIZE(v);

		SET_VARSIZE_SHORT(item + cur, sz);
		memcpy(item + cur + 1, VARDATA(v), sz - 1);
		return cur + sz;
	}
	while (cur != INTALIGN(cur))
		item[cur++] = 0;
	memcpy(item + cur, v, VARSIZE(v));
	return cur + VARSIZE(v);
}

static Size
record_size(const TopicNewRecord *rec)
{
	Size		cur = TREC_HEADER_SIZE;

	if (rec->key)
		cur += field_size(cur, rec->key);
	if (rec->value)
		cur += field_size(cur, rec->value);
	if (rec->headers)
		cur += field_size(cur, rec->headers);
	return cur;
}

/*
 * Reject a record over pg_topics.max_record_bytes.  The limit counts the
 * payload bytes a client sent (key, value, headers), not the stored size.
 */
void
topic_check_record_size(Relation rel, Size keylen, Size valuelen, Size headerslen)
{
	Size		total = keylen + valuelen + headerslen;

	if (total > (Size) topics_max_record_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("record of %zu bytes exceeds the limit of %d bytes for topic \"%s\"",
						total, topics_max_record_bytes, topic_user_relname(rel)),
				 errdetail("Key, value and headers of the record add up to %zu bytes.", total),
				 errhint("Split the record, or have a superuser raise pg_topics.max_record_bytes.")));
}

/* A field of a record and its column, whose settings shrink_field applies */
typedef struct RecordField
{
	struct varlena **field;
	AttrNumber	attnum;
} RecordField;

/*
 * Shrink a field that pushes the record over the inline limit: compress it,
 * and if it is still over half the limit, store it out of line in the TOAST
 * relation; with "any_size", out of line whatever its size.  The column's
 * settings apply as to a heap table's: its compression method (ALTER TABLE
 * ... ALTER COLUMN ... SET COMPRESSION), and no compression with storage
 * EXTERNAL (for values the producer compressed already) or PLAIN (which
 * still goes out of line, since a record must fit a page).  Until 0.10 both
 * were accepted and ignored: every value was compressed with
 * default_toast_compression.
 */
static struct varlena *
shrink_field(Relation rel, struct varlena *v, bool any_size, AttrNumber attnum)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

	if (!VARATT_IS_EXTENDED(v) &&
		att->attstorage != TYPSTORAGE_EXTERNAL && att->attstorage != TYPSTORAGE_PLAIN)
	{
		Datum		d = toast_compress_datum(PointerGetDatum(v),
											 CompressionMethodIsValid(att->attcompression) ?
											 att->attcompression :
											 (char) default_toast_compression);

		if (DatumGetPointer(d) != NULL)
			v = (struct varlena *) DatumGetPointer(d);
	}
	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_SHORT(v) || !OidIsValid(rel->rd_rel->reltoastrelid))
		return v;
	if (any_size ? VARSIZE_ANY(v) > TOAST_POINTER_SIZE : VARSIZE_ANY(v) > TOPIC_MAX_INLINE_RECORD / 2)
		v = (struct varlena *) DatumGetPointer(toast_save_datum(rel, PointerGetDatum(v), NULL, 0));
	return v;
}

/*
 * Check and size a record; compress or toast its largest fields when it
 * would not fit inline.  The fields must be plain (detoasted) varlenas.
 */
void
topic_record_prepare(Relation rel, TopicNewRecord *rec)
{
	topic_check_record_size(rel,
							rec->key ? VARSIZE_ANY_EXHDR(rec->key) : 0,
							rec->value ? VARSIZE_ANY_EXHDR(rec->value) : 0,
							rec->headers ? VARSIZE_ANY_EXHDR(rec->headers) : 0);
	topic_record_fit(rel, rec);
}

/*
 * Size a record and compress or toast its largest fields when it would not
 * fit inline, without the size limit: VACUUM FULL copies records stored
 * under an earlier pg_topics.max_record_bytes.  Fields may be plain, or
 * compressed inline as stored (external ones must be fetched first).
 */
void
topic_record_fit(Relation rel, TopicNewRecord *rec)
{
	rec->itemsz = record_size(rec);
	if (rec->itemsz > TOPIC_MAX_INLINE_RECORD)
	{
		RecordField fields[3] = {
			{&rec->value, Anum_topic_value},
			{&rec->key, Anum_topic_key},
			{&rec->headers, Anum_topic_headers},
		};
		int			i;

		/* largest field first, by a tiny insertion sort */
		for (i = 1; i < 3; i++)
		{
			int			j = i;

			while (j > 0 &&
				   (*fields[j - 1].field ? VARSIZE_ANY(*fields[j - 1].field) : 0) <
				   (*fields[j].field ? VARSIZE_ANY(*fields[j].field) : 0))
			{
				RecordField tmp = fields[j];

				fields[j] = fields[j - 1];
				fields[j - 1] = tmp;
				j--;
			}
		}

		/*
		 * The largest fields first, until the record fits; and if that was
		 * not enough, again, moving fields of any size out of line.  Until
		 * 0.9 only a field over half the limit went out of line, so three
		 * incompressible fields of 700 bytes could not be stored at all.
		 */
		for (int any_size = 0; any_size <= 1; any_size++)
			for (i = 0; i < 3 && rec->itemsz > TOPIC_MAX_INLINE_RECORD; i++)
			{
				if (*fields[i].field == NULL)
					continue;
				*fields[i].field = shrink_field(rel, *fields[i].field, any_size,
												fields[i].attnum);
				rec->itemsz = record_size(rec);
			}
		if (rec->itemsz > TOPIC_MAX_INLINE_RECORD)
			elog(ERROR, "record of %zu bytes does not fit a page after toasting",
				 rec->itemsz);
	}
}

/*
 * Write a prepared record at dst, which must have room for rec->itemsz bytes
 * and be 4-byte aligned within its page.  xmin is the producing
 * transaction's, unless the record carries its own (VACUUM FULL's copies).
 */
void
topic_record_write(char *dst, const TopicNewRecord *rec, TransactionId xmin,
				   CommandId cid)
{
	uint8		flags = rec->xmin_flags;
	Size		cur = TREC_HEADER_SIZE;

	if (rec->key == NULL)
		flags |= TREC_NULL_KEY;
	if (rec->value == NULL)
		flags |= TREC_NULL_VALUE;
	if (rec->headers == NULL)
		flags |= TREC_NULL_HEADERS;

	if (TransactionIdIsValid(rec->xmin))
	{
		xmin = rec->xmin;
		cid = rec->cid;
	}
	memcpy(dst + TREC_XMIN_OFF, &xmin, sizeof(TransactionId));
	memcpy(dst + TREC_CID_OFF, &cid, sizeof(CommandId));
	memcpy(dst + TREC_TS_OFF, &rec->ts, sizeof(TimestampTz));
	dst[TREC_FLAGS_OFF] = (char) flags;

	if (rec->key)
		cur = field_write(dst, cur, rec->key);
	if (rec->value)
		cur = field_write(dst, cur, rec->value);
	if (rec->headers)
		cur = field_write(dst, cur, rec->headers);
	Assert(cur == rec->itemsz);
}

/*
 * Locate the next field at item offset *cur (skipping alignment padding).
 * Inlined: it runs twice per record a scan decodes for its value.
 */
static pg_attribute_always_inline Datum
field_read(char *item, Size *cur)
{
	char	   *p;

	if (*cur != INTALIGN(*cur) && item[*cur] == 0)
		*cur = INTALIGN(*cur);
	p = item + *cur;
	*cur += VARSIZE_ANY(p);
	return PointerGetDatum(p);
}

/*
 * Decode the record at line pointer "off" of a data page.  The datums point
 * into the page: the caller keeps the buffer pinned while it uses them.
 */
void
topic_record_decode(Page page, OffsetNumber off, TopicRecord *rec)
{
	TopicPageOpaque opaque = TopicPageGetOpaque(page);
	ItemId		itemid = PageGetItemId(page, off);
	char	   *item = (char *) PageGetItem(page, itemid);
	Size		cur = TREC_HEADER_SIZE;

	rec->partition = opaque->partition;
	rec->seq = opaque->first_seq + off - 1;
	memcpy(&rec->xmin, item + TREC_XMIN_OFF, sizeof(TransactionId));
	memcpy(&rec->cid, item + TREC_CID_OFF, sizeof(CommandId));
	memcpy(&rec->ts, item + TREC_TS_OFF, sizeof(TimestampTz));
	rec->flags = (uint8) item[TREC_FLAGS_OFF];

	rec->key = (rec->flags & TREC_NULL_KEY) ? (Datum) 0 : field_read(item, &cur);
	rec->value = (rec->flags & TREC_NULL_VALUE) ? (Datum) 0 : field_read(item, &cur);
	rec->headers = (rec->flags & TREC_NULL_HEADERS) ? (Datum) 0 : field_read(item, &cur);
}

/*
 * Decode the first natts columns (in the order of topics.record) of the
 * record at line pointer "off" straight into values/isnull, reading no
 * further into the record than they need: a scan that uses the value does
 * not touch the headers, one that uses only seq does not read the record.
 * Datums point into the page, as with topic_record_decode.
 */
void
topic_record_deform(Page page, OffsetNumber off, int natts, Datum *values, bool *isnull)
{
	TopicPageOpaque opaque = TopicPageGetOpaque(page);
	char	   *item;
	uint8		flags;
	Size		cur = TREC_HEADER_SIZE;
	TimestampTz ts;

	values[Anum_topic_partition - 1] = Int32GetDatum(opaque->partition);
	isnull[Anum_topic_partition - 1] = false;
	if (natts < Anum_topic_seq)
		return;
	values[Anum_topic_seq - 1] = Int64GetDatum(opaque->first_seq + off - 1);
	isnull[Anum_topic_seq - 1] = false;
	if (natts < Anum_topic_ts)
		return;

	item = (char *) PageGetItem(page, PageGetItemId(page, off));
	memcpy(&ts, item + TREC_TS_OFF, sizeof(TimestampTz));
	values[Anum_topic_ts - 1] = TimestampTzGetDatum(ts);
	isnull[Anum_topic_ts - 1] = false;
	if (natts < Anum_topic_key)
		return;

	flags = (uint8) item[TREC_FLAGS_OFF];
	isnull[Anum_topic_key - 1] = (flags & TREC_NULL_KEY) != 0;
	values[Anum_topic_key - 1] = (flags & TREC_NULL_KEY) ? (Datum) 0 : field_read(item, &cur);
	if (natts < Anum_topic_value)
		return;
	isnull[Anum_topic_value - 1] = (flags & TREC_NULL_VALUE) != 0;
	values[Anum_topic_value - 1] = (flags & TREC_NULL_VALUE) ? (Datum) 0 : field_read(item, &cur);
	if (natts < Anum_topic_headers)
		return;
	isnull[Anum_topic_headers - 1] = (flags & TREC_NULL_HEADERS) != 0;
	values[Anum_topic_headers - 1] = (flags & TREC_NULL_HEADERS) ? (Datum) 0 : field_read(item, &cur);
}

/* The columns of a decoded record, in the order of topics.record. */
void
topic_record_values(const TopicRecord *rec, Datum *values, bool *nulls)
{
	values[Anum_topic_partition - 1] = Int32GetDatum(rec->partition);
	values[Anum_topic_seq - 1] = Int64GetDatum(rec->seq);
	values[Anum_topic_ts - 1] = TimestampTzGetDatum(rec->ts);
	values[Anum_topic_key - 1] = rec->key;
	values[Anum_topic_value - 1] = rec->value;
	values[Anum_topic_headers - 1] = rec->headers;
	nulls[Anum_topic_partition - 1] = false;
	nulls[Anum_topic_seq - 1] = false;
	nulls[Anum_topic_ts - 1] = false;
	nulls[Anum_topic_key - 1] = (rec->flags & TREC_NULL_KEY) != 0;
	nulls[Anum_topic_value - 1] = (rec->flags & TREC_NULL_VALUE) != 0;
	nulls[Anum_topic_headers - 1] = (rec->flags & TREC_NULL_HEADERS) != 0;
}

/* Bytes of key, value and headers as a consumer sees them (for max_bytes). */
Size
topic_record_payload_size(const TopicRecord *rec)
{
	Size		sz = 0;

	if (!(rec->flags & TREC_NULL_KEY))
		sz += toast_raw_datum_size(rec->key) - VARHDRSZ;
	if (!(rec->flags & TREC_NULL_VALUE))
		sz += toast_raw_datum_size(rec->value) - VARHDRSZ;
	if (!(rec->flags & TREC_NULL_HEADERS))
		sz += toast_raw_datum_size(rec->headers) - VARHDRSZ;
	return sz;
}
