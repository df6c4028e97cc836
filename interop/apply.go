package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

// op is one line of an op script (docs/dump-and-ops.md).
type op struct {
	Op        string          `json:"op"`
	Peer      string          `json:"peer"`
	Addrs     []string        `json:"addrs"`
	TTL       int64           `json:"ttl"`
	OldTTL    int64           `json:"old_ttl"`
	NewTTL    int64           `json:"new_ttl"`
	Now       *int64          `json:"now"`
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Protocols []string        `json:"protocols"`
	Envelope  string          `json:"envelope"`
}

// apply replays a script through go-libp2p's public peerstore API on a mock clock. A gc op runs
// go-libp2p's own GC once at the op's time (see runGC), on a fresh peerstore instance.
func apply(dir, script string, lookahead time.Duration) error {
	f, err := os.Open(script)
	if err != nil {
		return err
	}
	defer f.Close()
	clock := &mockClock{now: startTime}
	ps, store, err := openPeerstore(dir, clock)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var o op
		err := json.Unmarshal(sc.Bytes(), &o)
		if err == nil {
			if o.Now != nil {
				clock.now = time.Unix(0, *o.Now)
			}
			if o.Op == "gc" {
				if err = ps.Close(); err == nil {
					err = runGC(store, clock, lookahead)
				}
				if ps2, err2 := reopen(store, clock); err2 != nil {
					return err2
				} else {
					ps = ps2
				}
			} else {
				err = applyOp(ps, &o)
			}
		}
		if err != nil {
			b, _ := json.Marshal(map[string]interface{}{"line": line, "error": err.Error()})
			fmt.Fprintln(out, string(b))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := ps.Close(); err != nil {
		return err
	}
	return store.Close()
}

func reopen(store ds.Batching, clock *mockClock) (peerstore.Peerstore, error) {
	return newPeerstore(store, clock)
}

func applyOp(ps peerstore.Peerstore, o *op) error {
	var p peer.ID
	if o.Peer != "" {
		var err error
		if p, err = peer.Decode(o.Peer); err != nil {
			return err
		}
	}
	var addrs []ma.Multiaddr
	for _, s := range o.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return err
		}
		addrs = append(addrs, a)
	}
	protos := make([]protocol.ID, len(o.Protocols))
	for i, s := range o.Protocols {
		protos[i] = protocol.ID(s)
	}
	hexKey := func() ([]byte, error) {
		var s string
		if err := json.Unmarshal(o.Key, &s); err != nil {
			return nil, err
		}
		return hex.DecodeString(s)
	}
	switch o.Op {
	case "add_addrs":
		ps.AddAddrs(p, addrs, time.Duration(o.TTL))
	case "set_addrs":
		ps.SetAddrs(p, addrs, time.Duration(o.TTL))
	case "update_addrs":
		ps.UpdateAddrs(p, time.Duration(o.OldTTL), time.Duration(o.NewTTL))
	case "clear_addrs":
		ps.ClearAddrs(p)
	case "addrs":
		ps.Addrs(p)
	case "add_pubkey":
		b, err := hexKey()
		if err != nil {
			return err
		}
		k, err := crypto.UnmarshalPublicKey(b)
		if err != nil {
			return err
		}
		return ps.AddPubKey(p, k)
	case "add_privkey":
		b, err := hexKey()
		if err != nil {
			return err
		}
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return err
		}
		return ps.AddPrivKey(p, k)
	case "put":
		var name string
		if err := json.Unmarshal(o.Key, &name); err != nil {
			return err
		}
		v, err := valueFromJSON(o.Value)
		if err != nil {
			return err
		}
		return ps.Put(p, name, v)
	case "set_protocols":
		return ps.SetProtocols(p, protos...)
	case "add_protocols":
		return ps.AddProtocols(p, protos...)
	case "remove_protocols":
		return ps.RemoveProtocols(p, protos...)
	case "consume_peer_record":
		raw, err := hex.DecodeString(o.Envelope)
		if err != nil {
			return err
		}
		env, _, err := record.ConsumeEnvelope(raw, peer.PeerRecordEnvelopeDomain)
		if err != nil {
			return err
		}
		_, err = ps.(peerstore.CertifiedAddrBook).ConsumePeerRecord(env, time.Duration(o.TTL))
		return err
	case "remove_peer":
		ps.RemovePeer(p)
	default:
		return fmt.Errorf("unknown op %q", o.Op)
	}
	return nil
}

// valueFromJSON reads a metadata value in the dump's form {"type": T, "value": V}.
func valueFromJSON(raw json.RawMessage) (interface{}, error) {
	var v struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var (
		i   int64
		u   uint64
		f   float64
		s   string
		b   bool
		ss  []string
		err error
	)
	switch v.Type {
	case "nil":
		return nil, nil
	case "int", "int8", "int16", "int32", "int64":
		err = json.Unmarshal(v.Value, &i)
	case "uint", "uint8", "uint16", "uint32", "uint64", "uintptr":
		err = json.Unmarshal(v.Value, &u)
	case "float32", "float64":
		err = json.Unmarshal(v.Value, &f)
	case "string", "[]uint8":
		err = json.Unmarshal(v.Value, &s)
	case "bool":
		err = json.Unmarshal(v.Value, &b)
	case "[]string":
		err = json.Unmarshal(v.Value, &ss)
	}
	if err != nil {
		return nil, err
	}
	switch v.Type {
	case "int":
		return int(i), nil
	case "int8":
		return int8(i), nil
	case "int16":
		return int16(i), nil
	case "int32":
		return int32(i), nil
	case "int64":
		return i, nil
	case "uint":
		return uint(u), nil
	case "uint8":
		return uint8(u), nil
	case "uint16":
		return uint16(u), nil
	case "uint32":
		return uint32(u), nil
	case "uint64":
		return u, nil
	case "uintptr":
		return uintptr(u), nil
	case "float32":
		return float32(f), nil
	case "float64":
		return f, nil
	case "string":
		return s, nil
	case "bool":
		return b, nil
	case "[]string":
		return ss, nil
	case "[]uint8":
		return hex.DecodeString(s)
	}
	return nil, fmt.Errorf("unsupported value type %q", v.Type)
}
