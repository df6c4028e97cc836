package main

import (
	"context"
	"crypto/elliptic"
	"fmt"
	ds "github.com/ipfs/go-datastore"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	ma "github.com/multiformats/go-multiaddr"
)

// A scenario writes a database through go-libp2p's public peerstore API.
var scenarios = map[string]func(dir string, rng *rand.Rand) error{
	"sample": writeSample,
	"gc":     writeGC,
	"bulk":   writeBulk,
}

func scenarioNames() string {
	var names []string
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func write(dir, scenario string) error {
	f, ok := scenarios[scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q (have: %s)", scenario, scenarioNames())
	}
	return f(dir, rand.New(rand.NewSource(int64(len(scenario)))))
}

type identity struct {
	priv crypto.PrivKey
	id   peer.ID
}

func newIdentity(typ int, rng *rand.Rand) identity {
	var (
		priv crypto.PrivKey
		err  error
	)
	switch typ {
	case crypto.Ed25519:
		priv, _, err = crypto.GenerateEd25519Key(rng)
	case crypto.Secp256k1:
		priv, _, err = crypto.GenerateSecp256k1Key(rng)
	case crypto.ECDSA:
		priv, _, err = crypto.GenerateECDSAKeyPairWithCurve(elliptic.P256(), rng)
	case crypto.RSA:
		priv, _, err = crypto.GenerateRSAKeyPair(2048, rng)
	}
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		panic(err)
	}
	return identity{priv, id}
}

func addrs(ss ...string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, s := range ss {
		out = append(out, ma.StringCast(s))
	}
	return out
}

func sealRecord(who identity, seq uint64, as []ma.Multiaddr) *record.Envelope {
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: who.id, Addrs: as})
	rec.Seq = seq
	env, err := record.Seal(rec, who.priv)
	if err != nil {
		panic(err)
	}
	return env
}

// writeSample: one peer of each key type with its keys, addresses of every TTL class (some with
// /p2p suffixes), signed peer records consumed at several seqs, metadata of every built-in gob
// type, protocols, and a peer whose addresses were cleared.
func writeSample(dir string, rng *rand.Rand) error {
	clock := &mockClock{now: startTime}
	ps, store, err := openPeerstore(dir, clock)
	if err != nil {
		return err
	}
	ed := newIdentity(crypto.Ed25519, rng)
	secp := newIdentity(crypto.Secp256k1, rng)
	ecdsa := newIdentity(crypto.ECDSA, rng)
	rsa := newIdentity(crypto.RSA, rng)
	for _, who := range []identity{ed, secp, ecdsa, rsa} {
		must(ps.AddPubKey(who.id, who.priv.GetPublic()))
	}
	must(ps.AddPrivKey(ed.id, ed.priv))
	must(ps.AddPrivKey(secp.id, secp.priv))
	must(ps.AddPrivKey(ecdsa.id, ecdsa.priv))
	must(ps.AddPrivKey(rsa.id, rsa.priv))

	ps.AddAddrs(ed.id, addrs("/ip4/10.0.0.1/tcp/4001", "/ip6/::1/udp/4001/quic-v1"), peerstore.PermanentAddrTTL)
	ps.AddAddrs(ed.id, addrs("/ip4/10.0.0.2/tcp/4001/p2p/"+ed.id.String()), peerstore.ConnectedAddrTTL)
	ps.AddAddrs(ed.id, addrs("/dns4/example.com/tcp/443/wss"), peerstore.TempAddrTTL)
	ps.AddAddrs(secp.id, addrs("/ip4/192.168.1.7/udp/9000/quic-v1"), peerstore.RecentlyConnectedAddrTTL)
	ps.AddAddrs(secp.id, addrs("/ip4/192.168.1.8/tcp/9000"), peerstore.OwnObservedAddrTTL)
	ps.AddAddrs(secp.id, addrs("/ip4/192.168.1.9/tcp/9000/p2p/"+rsa.id.String()), peerstore.AddressTTL) // another peer's: dropped
	ps.AddAddrs(rsa.id, addrs("/ip4/172.16.0.1/tcp/1234"), peerstore.AddressTTL)

	// Signed records for the ECDSA peer: seq 1, then 3, then a stale 2 that is refused.
	for _, seq := range []uint64{1, 3, 2} {
		env := sealRecord(ecdsa, seq, addrs(fmt.Sprintf("/ip4/1.2.3.%d/tcp/4001", seq)))
		if _, err := ps.(peerstore.CertifiedAddrBook).ConsumePeerRecord(env, time.Hour); err != nil {
			return err
		}
		clock.now = clock.now.Add(time.Second)
	}

	// A peer whose addresses were cleared: its metadata stays.
	cleared := newIdentity(crypto.Ed25519, rng)
	ps.AddAddrs(cleared.id, addrs("/ip4/8.8.8.8/tcp/1"), time.Hour)
	ps.ClearAddrs(cleared.id)
	must(ps.Put(cleared.id, "AgentVersion", "gone/1.0"))

	// Identify's strings, and a value of every built-in type.
	must(ps.Put(ed.id, "AgentVersion", "go-libp2p/0.48.0"))
	must(ps.Put(ed.id, "ProtocolVersion", "ipfs/0.1.0"))
	for name, v := range map[string]interface{}{
		"bool": true, "string": "", "int": -7, "int8": int8(-8), "int16": int16(300),
		"int32": int32(-70000), "int64": int64(1) << 40, "uint": uint(7), "uint8": uint8(200),
		"uint16": uint16(65535), "uint32": uint32(1) << 31, "uint64": uint64(1) << 63,
		"uintptr": uintptr(12), "float32": float32(0.25), "float64": 1.5, "bytes": []byte{1, 2, 3},
		"strings": []string{"a", "b"}, "nil": nil,
	} {
		must(ps.Put(secp.id, name, v))
	}
	must(ps.SetProtocols(ed.id, "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/meshsub/1.1.0"))
	must(ps.AddProtocols(secp.id, "/ipfs/kad/1.0.0"))
	must(ps.AddProtocols(rsa.id, "/x/1.0.0"))
	must(ps.RemoveProtocols(rsa.id, "/x/1.0.0")) // writes back an empty map

	if err := ps.Close(); err != nil {
		return err
	}
	return store.Close()
}

// writeGC: addresses expiring at different times, indexed by the GC's lookahead.
func writeGC(dir string, rng *rand.Rand) error {
	clock := &mockClock{now: startTime}
	ps, store, err := openPeerstore(dir, clock)
	if err != nil {
		return err
	}
	var ids []identity
	for i := 0; i < 4; i++ {
		who := newIdentity(crypto.Ed25519, rng)
		ids = append(ids, who)
		ps.AddAddrs(who.id, addrs(fmt.Sprintf("/ip4/10.1.0.%d/tcp/1", i)), time.Duration(i+1)*time.Hour)
	}
	ps.AddAddrs(ids[0].id, addrs("/ip4/10.1.1.1/tcp/1"), peerstore.PermanentAddrTTL)
	if err := ps.Close(); err != nil {
		return err
	}
	// go-libp2p writes lookahead entries only from its GC goroutine: run it once, with a
	// 3-hour window at the same clock, so records expiring within it are indexed.
	if err := runGC(store, clock, 3*time.Hour); err != nil {
		return err
	}
	return store.Close()
}

// writeBulk: 10,000 peers with two addresses each and an agent version.
func writeBulk(dir string, rng *rand.Rand) error {
	clock := &mockClock{now: startTime}
	ps, store, err := openPeerstore(dir, clock)
	if err != nil {
		return err
	}
	for i := 0; i < 10000; i++ {
		who := newIdentity(crypto.Ed25519, rng)
		ps.AddAddrs(who.id, addrs(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4001", i>>16, (i>>8)&255, i&255),
			fmt.Sprintf("/ip4/10.%d.%d.%d/udp/4001/quic-v1", i>>16, (i>>8)&255, i&255)),
			time.Duration(1+i%48)*time.Hour)
		must(ps.Put(who.id, "AgentVersion", fmt.Sprintf("bulk/%d", i%7)))
	}
	if err := ps.Close(); err != nil {
		return err
	}
	return store.Close()
}

// runGC runs go-libp2p's own GC once at the clock's time: a peerstore opened with a tiny purge
// interval and an initial delay that fires at once (mock clock) populates the lookahead window
// (if lookahead > 0) and then purges; gcWatch tells when the purge's query has been drained.
func runGC(store ds.Batching, clock *mockClock, lookahead time.Duration) error {
	watch := newGCWatch(store, lookahead > 0)
	opts := pstoreds.DefaultOpts()
	opts.Clock = clock
	opts.GCInitialDelay = 0
	opts.GCPurgeInterval = time.Millisecond
	opts.GCLookaheadInterval = lookahead
	opts.CacheSize = 0
	ps, err := pstoreds.NewPeerstore(context.Background(), watch, opts)
	if err != nil {
		return err
	}
	select {
	case <-watch.purged:
	case <-time.After(30 * time.Second):
		ps.Close()
		return fmt.Errorf("go-libp2p's GC did not run within 30 s")
	}
	return ps.Close()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

var _ = protocol.ID("")
