# pg_topics: PGXS build.  `make && make install`, then `make installcheck`
# against a running server (scripts/test does all of it on a throwaway cluster).

EXTENSION = pg_topics
MODULE_big = pg_topics
OBJS = \
	src/pg_topics.o \
	src/topic_storage.o \
	src/topic_xlog.o \
	src/topic_reader.o \
	src/topic_directory.o \
	src/topic_record.o \
	src/topic_visibility.o \
	src/topic_tableam.o \
	src/topic_vacuum.o \
	src/topic_retention.o \
	src/topic_producers.o \
	src/topic_api.o \
	src/topic_iterator.o \
	src/topic_consume.o \
	src/topic_wait.o \
	src/topic_seekscan.o \
	src/topic_fetchscan.o \
	src/topic_scancolumns.o \
	src/topic_truncation.o \
	src/murmur2.o

DATA = $(wildcard sql/pg_topics--*.sql)
PGFILEDESC = "pg_topics - log-structured topics for PostgreSQL"

# pg_regress looks in ./sql and ./expected; install scripts live there too,
# so regression tests never share a name with them.
REGRESS = $(filter-out pg_topics--%,$(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=pg_topics
ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso --load-extension=pg_topics
TAP_TESTS = 1

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Werror -Wmissing-prototypes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS runs prove on ./t; our TAP tests live in test/t.
PROVE_TESTS = test/t/*.pl

# `make installcheck` runs all three tiers against the installed server:
# pg_regress (sql/, expected/), the isolation specs (test/specs/) and, since
# TAP_TESTS is set, prove on test/t/*.pl (each TAP test starts its own
# clusters).  `make tapcheck` runs only the TAP tests.
.PHONY: tapcheck
tapcheck:
	$(prove_installcheck)

EXTRA_CLEAN = output_iso tmp_check results regression.diffs regression.out

# PGXS does not track header dependencies: every object depends on the
# shared header (a stale object with an old struct layout crashes).
$(OBJS): src/pg_topics.h
