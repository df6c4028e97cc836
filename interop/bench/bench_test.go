// Package bench measures go-libp2p v0.48.0's pstoreds over go-ds-leveldb on the shapes of
// the benchmarks of go-libp2p's peerstore suite (docs/tests.md), beside the Rust crate's criterion benches (BENCHMARKS.md):
//
//	cd interop && go test -run '^$' -bench . -benchtime 1s ./bench
//
// fsync is off on both sides (goleveldb NoSync here, SyncPolicy::Never in Rust): these compare
// the peerstores, not the disk.
package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	ma "github.com/multiformats/go-multiaddr"
)

func open(b *testing.B, cache uint) peerstore.Peerstore {
	store, err := leveldb.NewDatastore(b.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	opts := pstoreds.DefaultOpts()
	opts.CacheSize = cache
	opts.GCPurgeInterval = 0
	ps, err := pstoreds.NewPeerstore(context.Background(), store, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ps.Close(); store.Close() })
	return ps
}

func addrs(n int) []ma.Multiaddr {
	out := make([]ma.Multiaddr, n)
	for i := range out {
		out[i] = ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 1000+i))
	}
	return out
}

func peers(b *testing.B, n int) []peer.ID {
	out := make([]peer.ID, n)
	for i := range out {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			b.Fatal(err)
		}
		if out[i], err = peer.IDFromPublicKey(pub); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

func BenchmarkPeerstore(b *testing.B) {
	for _, c := range []struct {
		name  string
		cache uint
	}{{"cached", 1024}, {"uncached", 0}} {
		for _, n := range []int{1, 10, 100} {
			a := addrs(n)
			ps := open(b, c.cache)
			pool := peers(b, 256)
			i := 0
			next := func() peer.ID { i = (i + 1) % len(pool); return pool[i] }
			b.Run(fmt.Sprintf("leveldb/%s/AddAddrs/%d", c.name, n), func(b *testing.B) {
				for j := 0; j < b.N; j++ {
					ps.AddAddrs(next(), a, peerstore.PermanentAddrTTL)
				}
			})
			b.Run(fmt.Sprintf("leveldb/%s/GetAddrs/%d", c.name, n), func(b *testing.B) {
				for j := 0; j < b.N; j++ {
					ps.Addrs(next())
				}
			})
			b.Run(fmt.Sprintf("leveldb/%s/SetAddrs/%d", c.name, n), func(b *testing.B) {
				for j := 0; j < b.N; j++ {
					ps.SetAddrs(next(), a, peerstore.PermanentAddrTTL)
				}
			})
			b.Run(fmt.Sprintf("leveldb/%s/GetAndClearAddrs/%d", c.name, n), func(b *testing.B) {
				for j := 0; j < b.N; j++ {
					b.StopTimer()
					p := next()
					ps.AddAddrs(p, a, peerstore.PermanentAddrTTL)
					b.StartTimer()
					ps.Addrs(p)
					ps.ClearAddrs(p)
				}
			})
			for _, p := range pool {
				ps.AddAddrs(p, a, peerstore.PermanentAddrTTL)
			}
			b.Run(fmt.Sprintf("leveldb/%s/PeersWithAddrs/%d", c.name, n), func(b *testing.B) {
				for j := 0; j < b.N; j++ {
					ps.PeersWithAddrs()
				}
			})
		}
	}
}

func BenchmarkKeyBook(b *testing.B) {
	ps := open(b, 1024)
	keys := make([]crypto.PrivKey, 256)
	for i := range keys {
		var err error
		if keys[i], _, err = crypto.GenerateSecp256k1Key(nil); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	next := func() (crypto.PrivKey, peer.ID) {
		i = (i + 1) % len(keys)
		id, _ := peer.IDFromPrivateKey(keys[i])
		return keys[i], id
	}
	b.Run("leveldb/cached/AddPubKey", func(b *testing.B) {
		for j := 0; j < b.N; j++ {
			k, id := next()
			if err := ps.AddPubKey(id, k.GetPublic()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("leveldb/cached/PubKey", func(b *testing.B) {
		for j := 0; j < b.N; j++ {
			_, id := next()
			ps.PubKey(id)
		}
	})
	b.Run("leveldb/cached/AddPrivKey", func(b *testing.B) {
		for j := 0; j < b.N; j++ {
			k, id := next()
			if err := ps.AddPrivKey(id, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("leveldb/cached/PrivKey", func(b *testing.B) {
		for j := 0; j < b.N; j++ {
			_, id := next()
			ps.PrivKey(id)
		}
	})
	b.Run("leveldb/cached/PeersWithKeys", func(b *testing.B) {
		for j := 0; j < b.N; j++ {
			ps.PeersWithKeys()
		}
	})
}

// BenchmarkSynced is one writer with go-ds-leveldb's defaults (every write synced) and
// pstoreds' default options: AddAddrs of one address to the next of 1,000 peers. Beside the
// Rust crate's `leveldb/synced/AddAddrs/1` (BENCHMARKS.md): both pay one fsync per write.
func BenchmarkSynced(b *testing.B) {
	store, err := leveldb.NewDatastore(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = 0
	ps, err := pstoreds.NewPeerstore(context.Background(), store, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { ps.Close(); store.Close() }()
	a := addrs(1)
	pool := peers(b, 1000)
	i := 0
	b.Run("leveldb/synced/AddAddrs/1", func(b *testing.B) {
		for j := 0; j < b.N; j++ {
			i = (i + 1) % len(pool)
			ps.AddAddrs(pool[i], a, peerstore.PermanentAddrTTL)
		}
	})
	// Eight writers at once: the time per write over all of them (goleveldb merges concurrent
	// writes into one journal write and one sync).
	b.Run("leveldb/synced/AddAddrs/8", func(b *testing.B) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j := next.Add(1) - 1
					if j >= int64(b.N) {
						return
					}
					ps.AddAddrs(pool[int(j)%len(pool)], a, peerstore.PermanentAddrTTL)
				}
			}()
		}
		wg.Wait()
	})
}
