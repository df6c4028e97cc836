package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	leveldb "github.com/ipfs/go-ds-leveldb"
	sqlds "github.com/ipfs/go-ds-sql"
	pgds "github.com/ipfs/go-ds-sql/postgres"
	sqliteds "github.com/ipfs/go-ds-sql/sqlite"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// mockClock is pstoreds' clock, under the harness's control. After fires at once, so the GC's
// initial delay never holds it back.
type mockClock struct{ now time.Time }

func (c *mockClock) Now() time.Time { return c.now }

func (c *mockClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- c.now.Add(d)
	return ch
}

// startTime is the clock's start for every script and scenario (docs/dump-and-ops.md).
var startTime = time.Unix(1750000000, 0)

// A store is named as pstore names one: a LevelDB directory, sqlite:PATH, or a PostgreSQL URL
// (postgres:// or postgresql://); the SQL table is $INTEROP_TABLE, else go-ds-sql's "blocks".
func isPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

func table() string {
	if t := os.Getenv("INTEROP_TABLE"); t != "" {
		return t
	}
	return "blocks"
}

// openStore opens the datastore go-libp2p's pstoreds runs on: go-ds-leveldb, or go-ds-sql over
// SQLite (its own Create, which makes the table) or PostgreSQL (lib/pq and go-ds-sql's
// queries; the table as go-ds-sql's README creates it).
func openStore(target string) (ds.Batching, error) {
	switch {
	case isPostgres(target):
		db, err := sql.Open("postgres", target)
		if err != nil {
			return nil, err
		}
		t := table()
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (key TEXT NOT NULL UNIQUE, data BYTEA); "+
			"CREATE INDEX IF NOT EXISTS %s_key_text_pattern_ops_idx ON %s (key text_pattern_ops)", t, t, t)); err != nil {
			db.Close()
			return nil, err
		}
		return sqlds.NewDatastore(db, pgds.NewQueries(t)), nil
	case strings.HasPrefix(target, "sqlite:"):
		opts := sqliteds.Options{Driver: "sqlite", DSN: strings.TrimPrefix(target, "sqlite:"), Table: table()}
		return opts.Create()
	}
	// An existing database must open cleanly: go-ds-leveldb would silently "recover" it.
	if _, err := os.Stat(target); err == nil {
		if err := openStrict(target); err != nil {
			return nil, err
		}
	}
	return leveldb.NewDatastore(target, nil)
}

// openPeerstore opens go-libp2p's pstoreds over the store target names, with the GC off.
func openPeerstore(target string, clock *mockClock) (peerstore.Peerstore, ds.Batching, error) {
	store, err := openStore(target)
	if err != nil {
		return nil, nil, err
	}
	ps, err := newPeerstore(store, clock)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return ps, store, nil
}

// entries lists every key under /peers/ with its value, in byte order: LevelDB read by
// goleveldb with every checksum verified, SQL through go-ds-sql's prefix query.
func entries(target string) ([][2][]byte, error) {
	var out [][2][]byte
	if !isPostgres(target) && !strings.HasPrefix(target, "sqlite:") {
		db, err := goleveldb.OpenFile(target, &opt.Options{ErrorIfMissing: true, Strict: opt.StrictAll})
		if err != nil {
			return nil, err
		}
		defer db.Close()
		it := db.NewIterator(util.BytesPrefix([]byte("/peers/")), nil)
		for it.Next() {
			out = append(out, [2][]byte{append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...)})
		}
		it.Release()
		return out, it.Error()
	}
	store, err := openStore(target)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	res, err := store.Query(context.Background(), dsq.Query{Prefix: "/peers/"})
	if err != nil {
		return nil, err
	}
	all, err := res.Rest()
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		out = append(out, [2][]byte{[]byte(e.Key), e.Value})
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][0]) < string(out[j][0]) })
	return out, nil
}

// newPeerstore opens go-libp2p's pstoreds on store with its defaults, the GC goroutine off and
// the cache off. go-libp2p's ARC cache can hold what the store no longer does: a record deleted
// for having no addresses keeps its CertifiedRecord in the cache, and the next AddAddrs writes
// that old signed record back. With the cache off, Go's outcome is what its store says, which
// is what this project implements (README, "Deliberate differences").
func newPeerstore(store ds.Batching, clock *mockClock) (peerstore.Peerstore, error) {
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = 0
	opts.CacheSize = 0
	opts.Clock = clock
	return pstoreds.NewPeerstore(context.Background(), store, opts)
}

// openStrict opens dir with goleveldb directly, without go-ds-leveldb's silent RecoverFile,
// reads every entry with all checksums verified, and fails if goleveldb finds anything wrong.
func openStrict(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	db, err := goleveldb.OpenFile(dir, &opt.Options{ErrorIfMissing: true, ReadOnly: true, Strict: opt.StrictAll})
	if err != nil {
		return fmt.Errorf("goleveldb refuses %s: %w", dir, err)
	}
	defer db.Close()
	it := db.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	n := 0
	for it.Next() {
		n++
	}
	it.Release()
	if err := it.Error(); err != nil {
		return fmt.Errorf("goleveldb failed reading %s after %d entries: %w", dir, n, err)
	}
	return nil
}
