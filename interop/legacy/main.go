// Command legacy writes a peerstore database with go-libp2p v0.24.2, the last release line that
// stored protocols as the gob type `map[string]struct {}` (v0.25.0 switched to
// `map[protocol.ID]struct {}`), and reads it back with the same version:
//
//	go run . write DIR   |   go run . read DIR
//
// The database is committed as testdata/go-v0.24.2/legacy-protocols.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds"
	ma "github.com/multiformats/go-multiaddr"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: legacy write|read DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "legacy:", err)
		os.Exit(1)
	}
}

func run(cmd, dir string) error {
	store, err := leveldb.NewDatastore(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	opts := pstoreds.DefaultOpts()
	opts.GCPurgeInterval = 0
	ps, err := pstoreds.NewPeerstore(context.Background(), store, opts)
	if err != nil {
		return err
	}
	defer ps.Close()
	// A fixed key: the same peer on every run.
	seed := make([]byte, 32)
	seed[0] = 7
	priv, _, err := crypto.GenerateEd25519Key(&fixed{seed})
	if err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return err
	}
	switch cmd {
	case "write":
		ps.AddAddrs(id, []ma.Multiaddr{ma.StringCast("/ip4/10.9.8.7/tcp/4001")}, 1000*time.Hour)
		if err := ps.SetProtocols(id, "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"); err != nil {
			return err
		}
		return ps.Put(id, "AgentVersion", "go-libp2p/0.24.2")
	case "read":
		protos, err := ps.GetProtocols(id)
		if err != nil {
			return err
		}
		sort.Strings(protos)
		fmt.Println(id, protos)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// fixed is a reader that always yields the same bytes.
type fixed struct{ b []byte }

func (f *fixed) Read(p []byte) (int, error) { return copy(p, f.b), nil }
