package main

import (
	"context"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// gcWatch passes everything through to the datastore and tells when go-libp2p's GC has finished
// one purge: the purge queries its prefix (/peers/gc/addrs with lookahead, /peers/addrs without)
// and then commits one batch, whatever it found.
type gcWatch struct {
	ds.Batching
	purgePrefix string
	started     atomic.Bool
	once        sync.Once
	purged      chan struct{}
}

func newGCWatch(store ds.Batching, lookahead bool) *gcWatch {
	prefix := "/peers/addrs"
	if lookahead {
		prefix = "/peers/gc/addrs"
	}
	return &gcWatch{Batching: store, purgePrefix: prefix, purged: make(chan struct{})}
}

func (w *gcWatch) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if q.Prefix == w.purgePrefix {
		w.started.Store(true)
	}
	return w.Batching.Query(ctx, q)
}

func (w *gcWatch) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := w.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &watchedBatch{Batch: b, w: w}, nil
}

type watchedBatch struct {
	ds.Batch
	w *gcWatch
}

func (b *watchedBatch) Commit(ctx context.Context) error {
	err := b.Batch.Commit(ctx)
	if b.w.started.Load() {
		b.w.once.Do(func() { close(b.w.purged) })
	}
	return err
}
