#!/usr/bin/env python3
"""The report of loadgen/pg-per-send.sh: per delivered send, the statements, transactions
(and the committing writes among them: each a WAL flush unless `synchronous_commit = off`),
server time, rows written by table and the statements by service, from the snapshots the
script took (idle0, idle1, load1) and the server log between them. The idle window's
counts, scaled to the load window's length, are subtracted.

Usage: pg-per-send.py WORK PGLOG DATABASE
"""

import collections
import re
import sys

work, pglog, database = sys.argv[1:4]


def read(name, ext):
    with open(f"{work}/{name}.{ext}") as f:
        return f.read().strip()


def seconds(name):
    return float(read(name, "time"))


PREFIX = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[(\d+)\] (\S*)@(\S*) (\w+):  (.*)$"
)
DURATION = re.compile(r"duration: ([\d.]+) ms  (parse|bind|execute|statement)( [^:]*)?: (.*)$")


def entries(start, end):
    """(pid, kind, ms, sql) of every statement logged for the database in [start, end)."""
    with open(pglog, "rb") as f:
        f.seek(start)
        data = f.read(end - start).decode("utf-8", "replace")
    current = None
    for line in data.split("\n"):
        match = PREFIX.match(line)
        if match:
            if current:
                yield current
            current = None
            pid, _user, db, level, rest = match.groups()
            if db != database or level != "LOG":
                continue
            duration = DURATION.match(rest)
            if not duration:
                continue
            ms, kind, _name, sql = duration.groups()
            current = [int(pid), kind, float(ms), sql]
        elif current is not None and line[:1] in ("\t", " "):
            current[3] += " " + line.strip()
    if current:
        yield current


def normal(sql):
    sql = re.sub(r"\s+", " ", sql).strip()
    return sql[:110]


def is_write(sql):
    head = sql.lstrip().split(" ", 1)[0].upper()
    if head in ("INSERT", "UPDATE", "DELETE"):
        return True
    return head == "WITH" and re.search(r"\b(INSERT|UPDATE|DELETE)\b", sql, re.I) is not None


def apps():
    names = {}
    for name in ("idle0", "idle1", "load1"):
        for line in read(name, "backends").splitlines():
            pid, _, app = line.partition("|")
            if pid:
                names[int(pid)] = app or "?"
    return names


def window(start, end, names):
    stats = collections.Counter()
    by_app = collections.defaultdict(collections.Counter)
    by_sql = collections.Counter()
    by_sql_ms = collections.Counter()
    open_tx = {}
    for pid, kind, ms, sql in entries(start, end):
        app = names.get(pid, "?")
        by_app[app]["ms"] += ms
        stats["ms"] += ms
        if kind in ("parse", "bind"):
            by_app[app][kind] += 1
            continue
        by_app[app]["round trips"] += 1
        text = normal(sql)
        upper = text.upper()
        if upper in ("BEGIN", "START TRANSACTION"):
            open_tx[pid] = {"write": False, "async": False}
            by_app[app]["begin"] += 1
            continue
        if upper in ("COMMIT", "ROLLBACK"):
            tx = open_tx.pop(pid, None)
            by_app[app]["transactions"] += 1
            if tx and tx["write"] and upper == "COMMIT":
                by_app[app]["async writes" if tx["async"] else "synchronous writes"] += 1
            continue
        if upper.startswith("SET LOCAL SYNCHRONOUS_COMMIT"):
            if pid in open_tx:
                open_tx[pid]["async"] = True
            continue
        by_app[app]["statements"] += 1
        by_sql[(app, text)] += 1
        by_sql_ms[(app, text)] += ms
        write = is_write(sql)
        if pid in open_tx:
            open_tx[pid]["write"] |= write
        else:
            by_app[app]["transactions"] += 1
            if write:
                by_app[app]["synchronous writes"] += 1
    return by_app, by_sql, by_sql_ms


def tables(name):
    rows = {}
    for line in read(name, "tables").splitlines():
        rel, *values = line.split("|")
        rows[rel] = [int(v) for v in values]
    return rows


def main():
    names = apps()
    pos = {name: int(read(name, "logpos")) for name in ("idle0", "idle1", "load1")}
    t = {name: seconds(name) for name in ("idle0", "idle1", "load1")}
    scale = (t["load1"] - t["idle1"]) / (t["idle1"] - t["idle0"])
    sends = int(read("load1", "sent")) - int(read("idle1", "sent"))
    idle_sent = int(read("idle1", "sent")) - int(read("idle0", "sent"))
    print(f"sends that reached 'sent' in the load window: {sends} (idle window: {idle_sent})")
    print(f"load window {t['load1'] - t['idle1']:.1f} s, idle window "
          f"{t['idle1'] - t['idle0']:.1f} s (idle counts scaled by {scale:.2f} and subtracted)")
    if sends <= 0:
        return
    idle_app, idle_sql, idle_sql_ms = window(pos["idle0"], pos["idle1"], names)
    load_app, load_sql, load_sql_ms = window(pos["idle1"], pos["load1"], names)

    def per_send(load, idle):
        return (load - idle * scale) / sends

    db = {n: [int(v) for v in read(n, "db").split("|")] for n in ("idle0", "idle1", "load1")}
    labels = ["commits", "rollbacks", "rows inserted", "rows updated", "rows deleted",
              "rows returned", "rows fetched"]
    print("\npg_stat_database, per send:")
    for i, label in enumerate(labels):
        print(f"  {label:16} {per_send(db['load1'][i] - db['idle1'][i], db['idle1'][i] - db['idle0'][i]):8.2f}")
    ticks = {n: int(read(n, "ticks")) for n in ("idle0", "idle1", "load1")}
    print(f"  backend CPU      {per_send(ticks['load1'] - ticks['idle1'], ticks['idle1'] - ticks['idle0']) * 10:8.2f} ms"
          " (this database's backends, utime+stime from /proc; 10 ms ticks)")

    keys = ["round trips", "statements", "transactions", "synchronous writes", "async writes", "parse", "ms"]
    print("\nper send, by service (from the server log; round trips: every statement the server"
          " ran, BEGIN, COMMIT and SET LOCAL included; statements: those others; synchronous"
          " writes: transactions that wrote, committed with synchronous_commit on, an UPDATE"
          " that matched no row counted too):")
    print("  " + f"{'service':18}" + "".join(f"{k:>19}" for k in keys))
    total = collections.Counter()
    for app in sorted(set(load_app) | set(idle_app)):
        values = [per_send(load_app[app][k], idle_app[app][k]) for k in keys]
        for k, v in zip(keys, values):
            total[k] += v
        print("  " + f"{app:18}" + "".join(f"{v:19.2f}" for v in values))
    print("  " + f"{'all':18}" + "".join(f"{total[k]:19.2f}" for k in keys))

    t0, t1, t2 = tables("idle0"), tables("idle1"), tables("load1")
    print("\nrows written per send, by table (inserted / updated (of which HOT) / deleted; index scans):")
    for rel in sorted(t2):
        a, b, c = t0.get(rel, [0] * 6), t1.get(rel, [0] * 6), t2[rel]
        v = [per_send(c[i] - b[i], b[i] - a[i]) for i in range(6)]
        if any(abs(x) >= 0.05 for x in v):
            print(f"  {rel:24} ins {v[0]:6.2f}  upd {v[1]:6.2f} ({v[2]:5.2f})  del {v[3]:6.2f}"
                  f"  seq scans {v[4]:6.2f}  idx scans {v[5]:6.2f}")

    print("\nstatements per send, by service and text (server ms per send):")
    rows = []
    for key in set(load_sql) | set(idle_sql):
        n = per_send(load_sql[key], idle_sql[key])
        ms = per_send(load_sql_ms[key], idle_sql_ms[key])
        if abs(n) >= 0.02:
            rows.append((key[0], -n, key[1], ms))
    for app, n, text, ms in sorted(rows):
        print(f"  {app:16} {-n:6.2f} {ms:7.3f}  {text}")


main()
