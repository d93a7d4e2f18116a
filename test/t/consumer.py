#!/usr/bin/python3
"""A pg_topics consumer written against a real driver (psycopg2).

usage: consumer.py HOST PORT DBNAME GROUP TOPIC N

Joins consumer group GROUP of TOPIC and long-polls with topics.consume()
until it has processed N records, committing after each batch (the group's
position advances in the same transaction).  Prints one line per record,
"partition seq key", then exits 0; exits 2 if two minutes pass first.
"""
import sys
import time

import psycopg2


def main():
    host, port, dbname, group, topic, n = sys.argv[1:7]
    n = int(n)
    conn = psycopg2.connect(host=host, port=int(port), dbname=dbname,
                            application_name='pyconsumer')
    deadline = time.monotonic() + 120
    seen = 0
    with conn:
        pass
    while seen < n:
        if time.monotonic() > deadline:
            print('timed out after %d records' % seen, file=sys.stderr)
            return 2
        with conn:                      # one transaction per batch
            with conn.cursor() as cur:
                cur.execute("SELECT partition, seq, key FROM topics.consume(%s, %s, 100, '30 s')",
                            (group, topic))
                for partition, seq, key in cur:
                    print(partition, seq, key, flush=True)
                    seen += 1
    conn.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
