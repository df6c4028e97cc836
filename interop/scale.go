package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	ma "github.com/multiformats/go-multiaddr"
)

// The Go half of benches/compare_scale.sh (the Rust half is benches/scale.rs, same workloads):
//
//	interop scale-populate DIR N SEED   N identify-like peers, written through go-libp2p
//	interop scale-open DIR              open + list every peer: one JSON line
//	interop scale-churn DIR SECONDS THREADS READ_PERCENT  mixed load while the GC runs
//
// An identify-like peer: an Ed25519 public key, four addresses (an hour's TTL), eight
// protocols, and the AgentVersion and ProtocolVersion metadata identify stores.

var scaleProtocols = []protocol.ID{
	"/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/ipfs/kad/1.0.0",
	"/libp2p/circuit/relay/0.2.0/stop", "/meshsub/1.1.0", "/meshsub/1.0.0", "/floodsub/1.0.0",
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB.
func peakRSS() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(status), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "VmHWM: %f kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return -1
}

func scalePopulate(dir string, n int, seed int64) error {
	// Set-up only: no fsync per write (the measured runs use the defaults).
	store, err := leveldb.NewDatastore(dir, &leveldb.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer store.Close()
	ps, err := plainPeerstore(store)
	if err != nil {
		return err
	}
	defer ps.Close()
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < n; i++ {
		_, pub, err := crypto.GenerateEd25519Key(rng)
		if err != nil {
			return err
		}
		p, err := peer.IDFromPublicKey(pub)
		if err != nil {
			return err
		}
		if err := ps.AddPubKey(p, pub); err != nil {
			return err
		}
		a, b := rng.Intn(256), rng.Intn(256)
		ps.AddAddrs(p, []ma.Multiaddr{
			ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", a, b, i%256)),
			ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/udp/4001/quic-v1", a, b, i%256)),
			ma.StringCast(fmt.Sprintf("/ip6/fd00::%x:%x/tcp/4001", a*256+b, i%65536)),
			ma.StringCast(fmt.Sprintf("/ip6/fd00::%x:%x/udp/4001/quic-v1", a*256+b, i%65536)),
		}, time.Hour)
		if err := ps.SetProtocols(p, scaleProtocols...); err != nil {
			return err
		}
		if err := ps.Put(p, "AgentVersion", "go-libp2p/0.48.0"); err != nil {
			return err
		}
		if err := ps.Put(p, "ProtocolVersion", "ipfs/0.1.0"); err != nil {
			return err
		}
	}
	return nil
}

// plainPeerstore opens go-libp2p's pstoreds on store with its defaults but no GC and no cache:
// every read and write goes to the store.
func plainPeerstore(store ds.Batching) (peerstore.Peerstore, error) {
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = 0
	opts.CacheSize = 0
	return pstoreds.NewPeerstore(context.Background(), store, opts)
}

// openScale opens go-libp2p's pstoreds with its default options, except as given: noSync
// (goleveldb NoSync) and the GC intervals (zero purge: no GC).
func openScale(dir string, noSync bool, purge, lookahead time.Duration) (peerstore.Peerstore, func(), error) {
	store, err := leveldb.NewDatastore(dir, &leveldb.Options{NoSync: noSync})
	if err != nil {
		return nil, nil, err
	}
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = purge
	opts.GCLookaheadInterval = lookahead
	opts.GCInitialDelay = 0
	ps, err := pstoreds.NewPeerstore(context.Background(), store, opts)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return ps, func() { ps.Close(); store.Close() }, nil
}

// scaleOpen: open with the defaults (GC off) and list every peer, timed from before the open.
func scaleOpen(dir string) error {
	start := time.Now()
	ps, closeAll, err := openScale(dir, false, 0, 0)
	if err != nil {
		return err
	}
	peers := ps.Peers()
	elapsed := time.Since(start).Seconds()
	closeAll()
	return json.NewEncoder(os.Stdout).Encode(map[string]float64{
		"peers": float64(len(peers)), "seconds": elapsed, "rss_mib": peakRSS()})
}

// scaleChurn: THREADS workers for SECONDS, each op on a random known peer: a read of its
// addresses (READ_PERCENT of ops) or AddAddrs of a new address with a TTL of 1 to 5 s, so that
// the GC (purge every second, 10 s lookahead) always has addresses to drop. Writes not synced
// (this measures the engine, not the disk). One JSON line: ops/s and latency percentiles.
func scaleChurn(dir string, seconds float64, threads, readPercent int) error {
	ps, closeAll, err := openScale(dir, true, time.Second, 10*time.Second)
	if err != nil {
		return err
	}
	defer closeAll()
	peers := ps.PeersWithAddrs()
	if len(peers) == 0 {
		return fmt.Errorf("%s: no peers with addresses", dir)
	}
	window := time.Duration(seconds * float64(time.Second))
	lat := make([][]time.Duration, threads)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < threads; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w) + 1))
			for i := 0; time.Since(start) < window; i++ {
				p := peers[rng.Intn(len(peers))]
				read := rng.Intn(100) < readPercent
				ttl := time.Duration(1+rng.Intn(5)) * time.Second
				a := ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4002", w, (i/256)%256, i%256))
				t := time.Now()
				if read {
					ps.Addrs(p)
				} else {
					ps.AddAddrs(p, []ma.Multiaddr{a}, ttl)
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}(w)
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(latencySummary(lat, time.Since(start)))
}

// latencySummary: ops/s and the latency percentiles in microseconds.
func latencySummary(lat [][]time.Duration, elapsed time.Duration) map[string]float64 {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p * float64(len(all)-1))
		return float64(all[i].Nanoseconds()) / 1e3
	}
	over := 0
	for _, d := range all {
		if d > 50*time.Millisecond {
			over++
		}
	}
	return map[string]float64{
		"ops_per_s": float64(len(all)) / elapsed.Seconds(), "p50_us": pct(0.5), "p99_us": pct(0.99),
		"p999_us": pct(0.999), "max_us": pct(1), "over_50ms": float64(over), "rss_mib": peakRSS()}
}
