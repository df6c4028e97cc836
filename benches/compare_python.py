"""Side by side, in one process and one run: pstoreds.PeerStore against py-libp2p 0.8.1's
in-memory PeerStore and its persistent peerstore (create_sync_peerstore, sqlite and, when
plyvel is installed, leveldb backends, default options), with the same identify-like peers
(2 addresses each, TTL 1 h, Ed25519 keys) and the same calls. Writes a Markdown table.

    python benches/compare_python.py --sizes 10000,100000 --rounds 5 --out BENCHMARKS-python.md

Each round measures every store once, on a fresh directory, in the same order; a cell is
the median over the rounds, and its ratio is the median of the per-round ratios (each
against py-libp2p's persistent sqlite store in the same round), with their range, so a
pause of the machine in one round moves neither the number nor the ratio much.

Run by benches/compare_python.sh, which builds the package in release mode first.
"""

import argparse
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.peer.peerstore import PeerStore as InMemory
from multiaddr import Multiaddr

import pstoreds

TTL = 3600
# Synced writes cost a journal fsync each: measured over this many peers, reported per second.
ALWAYS_PEERS = 3000


def peers(n: int):
    out = []
    for i in range(n):
        pub = create_new_key_pair().public_key
        addrs = [
            Multiaddr(f"/ip4/10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/tcp/4001"),
            Multiaddr(f"/ip4/10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/udp/4001/quic-v1"),
        ]
        out.append((ID.from_pubkey(pub), pub, addrs))
    return out


def rate(calls: int, seconds: float) -> float:
    return calls / seconds if seconds > 0 else float("inf")


class Kind:
    """One store under test: how to open it new, and how to open it again."""

    def __init__(self, label, open_new, reopen=None, limit=None, note=""):
        self.label, self.open_new, self.reopen, self.limit, self.note = (
            label,
            open_new,
            reopen,
            limit,
            note,
        )


def persistent(backend: str, path: str):
    from libp2p.peer.persistent import create_sync_peerstore

    return create_sync_peerstore(db_path=path, backend=backend)


def close(store) -> None:
    if hasattr(store, "close"):
        store.close()


def measure(kind: Kind, ps) -> dict:
    n = min(len(ps), kind.limit or len(ps))
    work = ps[:n]
    store = kind.open_new()
    gc.collect()
    row = {"peers": n}
    t = time.perf_counter()
    for peer, _pub, addrs in work:
        store.add_addrs(peer, addrs, TTL)
    row["add_addrs"] = rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    for peer, pub, _addrs in work:
        store.add_pubkey(peer, pub)
    row["add_pubkey"] = rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    for peer, _pub, _addrs in work:
        store.addrs(peer)
    row["addrs"] = rate(n, time.perf_counter() - t)
    # Check the answers once (outside the timing).
    peer, pub, addrs = work[-1]
    assert sorted(map(str, store.addrs(peer))) == sorted(map(str, addrs)), kind.label
    close(store)
    del store
    gc.collect()
    if kind.reopen is not None:
        t = time.perf_counter()
        again = kind.reopen()
        ids = again.peer_ids()
        row["reopen"] = time.perf_counter() - t
        row["reopen_peers"] = len(ids)
        # Every record readable at once: all addresses of a sample of peers.
        for peer, _pub, addrs in work[:: max(1, n // 100)]:
            got = again.addrs(peer)
            assert sorted(map(str, got)) == sorted(map(str, addrs)), (kind.label, peer)
        close(again)
    return row


def kinds(root: str, n: int) -> list[Kind]:
    # Its defaults (max_peers=1000) evict beyond 1,000 peers, sorting every peer at each
    # add: sized to hold them all, as a node that keeps its peers would set it.
    out = [
        Kind(
            "py-libp2p in-memory PeerStore (max_peers=N)",
            lambda: InMemory(max_records=n, max_peers=n),
        )
    ]
    sq = os.path.join(root, f"py-{n}.sqlite")
    out.append(
        Kind(
            "py-libp2p persistent, sqlite",
            lambda: persistent("sqlite", sq),
            lambda: persistent("sqlite", sq),
            note="sync_interval=1.0",
        )
    )
    try:
        import plyvel  # noqa: F401

        lv = os.path.join(root, f"py-{n}.leveldb")
        out.append(
            Kind(
                "py-libp2p persistent, leveldb (plyvel)",
                lambda: persistent("leveldb", lv),
                lambda: persistent("leveldb", lv),
            )
        )
    except ImportError:
        pass
    for sync, limit in [("interval", None), ("never", None), ("always", ALWAYS_PEERS)]:
        path = os.path.join(root, f"ours-{sync}-{n}")
        out.append(
            Kind(
                f'pstoreds LevelDB, sync="{sync}"',
                lambda path=path, sync=sync: pstoreds.PeerStore(path, sync=sync),
                lambda path=path: pstoreds.PeerStore(path),
                limit=limit,
            )
        )
    sql = os.path.join(root, f"ours-{n}.sqlite")
    out.append(
        Kind(
            'pstoreds SQLite, sync="interval"',
            lambda: pstoreds.PeerStore(f"sqlite:{sql}", sync="interval"),
            lambda: pstoreds.PeerStore(f"sqlite:{sql}"),
        )
    )
    return out


def fmt_rate(r) -> str:
    if r is None:
        return "—"
    return f"{r / 1e6:.2f}M/s" if r >= 1e6 else f"{r / 1e3:.1f}k/s"


def median_row(runs: list[dict]) -> dict:
    """One store's rounds folded into one row: the median of each measurement."""
    ok = [r for r in runs if "error" not in r]
    if len(ok) < len(runs):
        return next(r for r in runs if "error" in r)
    row = {"peers": ok[0]["peers"]}
    for key in ["add_addrs", "add_pubkey", "addrs", "reopen", "reopen_peers"]:
        if key in ok[0]:
            row[key] = statistics.median(r[key] for r in ok)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="BENCHMARKS-python.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = []
    for n in sizes:
        ps = peers(n)
        # runs[label] holds one row per round, in round order.
        runs: dict[str, list[dict]] = {}
        order: list[Kind] = []
        for rnd in range(args.rounds):
            root = tempfile.mkdtemp(prefix="pstoreds-pybench-", dir=os.environ.get("BENCH_DIR"))
            try:
                for kind in kinds(root, n):
                    print(f"{n} peers, round {rnd + 1}: {kind.label}", file=sys.stderr)
                    if kind.label not in runs:
                        runs[kind.label] = []
                        order.append(kind)
                    try:
                        runs[kind.label].append(measure(kind, ps))
                    except Exception as e:  # a store that cannot run the calls is reported
                        cause = e.__cause__ or e
                        runs[kind.label].append({"error": f"{type(cause).__name__}: {cause}"})
            finally:
                shutil.rmtree(root, ignore_errors=True)
        lines.append(f"\n### {n:,} peers ({args.rounds} rounds)\n")
        lines.append("| store | add_addrs | add_pubkey | addrs | reopen + peer_ids |")
        lines.append("|---|---:|---:|---:|---:|")
        base_runs = next(
            runs[k.label] for k in order if k.label.startswith("py-libp2p persistent, sqlite")
        )
        for kind in order:
            label, r = kind.label, median_row(runs[kind.label])
            if "error" in r:
                lines.append(f"| {label} | fails: `{r['error'][:90]}` | | | |")
                continue
            if r["peers"] != n:
                label += f" (over the first {r['peers']:,} peers)"
            reopen = "—"
            if "reopen" in r:
                reopen = f"{r['reopen']:.3f} s ({int(r['reopen_peers']):,} peers)"
            cells = []
            for call in ["add_addrs", "add_pubkey", "addrs"]:
                ratios = [x[call] / b[call] for x, b in zip(runs[kind.label], base_runs)]
                spread = "" if len(ratios) == 1 else f", {min(ratios):.2g}-{max(ratios):.2g}"
                cells.append(f"{fmt_rate(r[call])} ({statistics.median(ratios):.2g}x{spread})")
            lines.append(f"| {label} | {' | '.join(cells)} | {reopen} |")
    head = [
        "# Python benchmarks: pstoreds.PeerStore beside py-libp2p 0.8.1's peerstores",
        "",
        "Generated by `bash benches/compare_python.sh` (do not edit by hand). One process, the",
        "same peers and calls for every store: identify-like peers (2 addresses each, TTL 1 h,",
        "Ed25519 public keys), each call once per peer, in order. Every round measures every",
        "store once, on a fresh directory; a cell is the median over the rounds, and its ratio",
        "the median of the per-round ratios against py-libp2p's persistent sqlite store, with",
        "their range (lowest-highest). py-libp2p's persistent store syncs at most once a",
        "second (`sync_interval=1.0`); ours at the same promise is `sync=\"interval\"`;",
        "`sync=\"always\"` (our default) fsyncs every write before it returns. py-libp2p's",
        "persistent store keeps at most `max_records=10000` peers in its cache by default and",
        "loads records lazily on reopen; ours reads every record at once. Ours runs with its",
        "defaults (`addrs_cache` of 131,072 peers: about 450 bytes a peer of Python objects).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; "
        f"{subprocess.run(['uname', '-v'], capture_output=True, text=True).stdout.strip()}.",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(head + lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
