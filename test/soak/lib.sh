# Shared by the soak scripts (test/soak/run, test/soak/stress_last_stable,
# test/soak/stress_standby_stable),
# sourced after scripts/lib.sh, with $secs set: a throwaway cluster, clients
# that run pgbench scripts for $secs in the background, and the verdict.

# soak_start DB PORT_BASE [postgresql.conf lines]: start a cluster in a new
# $WORK with database DB (pg_topics created, directory_fanout 3 so that
# directories are deep); a failed run keeps $WORK (server log, clients'
# output, the data directory, stopped) and says where.
soak_start() {
	local db=$1 base=$2
	shift 2
	[ -f "$($PG_BIN/pg_config --pkglibdir)/pg_topics.so" ] ||
		die "pg_topics is not installed: run sudo scripts/setup (or sudo make install) first"
	SOAK_DB=$db
	WORK=$(mktemp -d /tmp/pg_topics-$db.XXXXXX)
	chmod 755 "$WORK"
	as_root chown "$PG_USER" "$WORK"
	PORT=$((base + RANDOM % 900))
	init_cluster "$WORK/data" "$PORT" "$WORK" "pg_topics.maintenance_interval = 0" "$@"
	start_cluster "$WORK/data" "$WORK/server.log"
	trap 'rc=$?; stop_cluster "$WORK/data"; if [ $rc -eq 0 ]; then as_root rm -rf "$WORK"; else echo "kept $WORK for inspection" >&2; fi' EXIT
	psql_ -d postgres -c "CREATE DATABASE $db"
	psql_ -d "$db" -c "CREATE EXTENSION pg_topics" \
		-c "ALTER DATABASE $db SET pg_topics.directory_fanout = 3"
	SOAK_CLIENTS=()
	SOAK_PIDS=()
}

psql_() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres "$@"; }

# soak_standby: a hot standby of the cluster, streaming, on port
# $STANDBY_PORT ($PORT + 1), data in $WORK/standby; stopped with the primary
soak_standby() {
	STANDBY_PORT=$((PORT + 1))
	as_pg "$PG_BIN/pg_basebackup" -h "$WORK" -p "$PORT" -U postgres -D "$WORK/standby" -R
	echo "port = $STANDBY_PORT" | as_pg tee -a "$WORK/standby/postgresql.conf" >/dev/null
	start_cluster "$WORK/standby" "$WORK/standby.log"
	trap 'rc=$?; stop_cluster "$WORK/standby"; stop_cluster "$WORK/data"; if [ $rc -eq 0 ]; then as_root rm -rf "$WORK"; else echo "kept $WORK for inspection" >&2; fi' EXIT
}

# soak_client NAME PGBENCH_OPTIONS...: run $WORK/NAME.sql in the background
# for $secs, its output in $WORK/NAME.out; on the standby when
# SOAK_ON_STANDBY=1
soak_client() {
	local name=$1 port=$PORT
	shift
	[ "${SOAK_ON_STANDBY:-0}" = 1 ] && port=$STANDBY_PORT
	chmod 644 "$WORK/$name.sql"
	as_pg "$PG_BIN/pgbench" -n -h "$WORK" -p "$port" -U postgres -T "$secs" "$@" \
		-f "$WORK/$name.sql" "$SOAK_DB" >"$WORK/$name.out" 2>&1 &
	SOAK_CLIENTS+=("$name")
	SOAK_PIDS+=($!)
}

# soak_verdict WHAT [psql -c queries to report]: wait for every client,
# print how many transactions each ran and the reports, and fail if any
# client failed or saw an error
soak_verdict() {
	local what=$1 rc=0 pid name q
	shift
	for pid in "${SOAK_PIDS[@]}"; do
		wait "$pid" || rc=1
	done
	for name in "${SOAK_CLIENTS[@]}"; do
		printf '%-8s %s\n' "$name" "$(grep -E 'number of transactions actually processed' "$WORK/$name.out" | sed 's/.*: //')"
	done
	for q in "$@"; do
		psql_ -d "$SOAK_DB" -At -c "$q"
	done
	if [ $rc -ne 0 ] || grep -q 'ERROR' "$WORK"/*.out; then
		grep 'ERROR' "$WORK"/*.out | sed 's|^.*\/||' | head -20
		die "$what failed"
	fi
	echo "$what passed"
}
