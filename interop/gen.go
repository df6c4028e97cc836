package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

// gen writes a seeded random op script for the differential replay: every op kind, a few
// peers, the clock moving forward, GC runs. Two known go-libp2p bugs are kept out of reach on
// purpose, because this project fixes them (README, "Deliberate differences"): an address
// repeated within one call, and several addresses removed by one negative-TTL SetAddrs.
func gen(seed int64, n int, w io.Writer) error {
	rng := rand.New(rand.NewSource(seed))
	var ids []identity
	for i := 0; i < 4; i++ {
		ids = append(ids, newIdentity(crypto.Ed25519, rng))
	}
	ids = append(ids, newIdentity(crypto.Secp256k1, rng))

	var pool []string
	for i := 1; i <= 4; i++ {
		pool = append(pool, fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i))
	}
	pool = append(pool, "/ip6/::1/udp/4001/quic-v1", "/ip6/2001:db8::7/tcp/1", "/dns4/h.example/tcp/443/wss",
		"/ip4/192.168.0.9/udp/9/quic-v1")
	ttls := []int64{int64(100 * time.Microsecond), int64(time.Second), int64(2 * time.Second), int64(5 * time.Second),
		int64(10 * time.Second), int64(time.Minute), int64(time.Hour), math.MaxInt64, math.MaxInt64 - 1}
	protocols := []string{"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/ipfs/kad/1.0.0", "/meshsub/1.1.0", "/x/1", "/y/2"}
	names := []string{"AgentVersion", "ProtocolVersion", "k1", "k2"}

	now := startTime.UnixNano()
	pick := func(k int) []string { // k distinct addresses, some with a /p2p suffix
		perm := rng.Perm(len(pool))
		out := make([]string, 0, k)
		for _, i := range perm[:k] {
			out = append(out, pool[i])
		}
		return out
	}
	suffix := func(addrs []string, self identity) []string {
		for i := range addrs {
			switch rng.Intn(8) {
			case 0:
				addrs[i] += "/p2p/" + self.id.String()
			case 1:
				addrs[i] += "/p2p/" + ids[rng.Intn(len(ids))].id.String()
			}
		}
		return addrs
	}
	enc := json.NewEncoder(w)
	for i := 0; i < n; i++ {
		if rng.Intn(5) < 3 {
			now += int64(rng.Intn(2500)) * int64(time.Millisecond)
		}
		who := ids[rng.Intn(len(ids))]
		o := map[string]interface{}{"peer": who.id.String(), "now": now}
		ttl := ttls[rng.Intn(len(ttls))]
		switch r := rng.Intn(100); {
		case r < 20:
			o["op"], o["addrs"], o["ttl"] = "add_addrs", suffix(pick(1+rng.Intn(4)), who), ttl
		case r < 32:
			o["op"], o["addrs"], o["ttl"] = "set_addrs", suffix(pick(1+rng.Intn(3)), who), ttl
		case r < 37:
			o["op"], o["addrs"], o["ttl"] = "set_addrs", pick(1), []int64{-1, 0}[rng.Intn(2)]
		case r < 45:
			o["op"], o["old_ttl"], o["new_ttl"] = "update_addrs", ttls[rng.Intn(len(ttls))], []int64{0, int64(time.Second), int64(time.Hour)}[rng.Intn(3)]
		case r < 47:
			o["op"] = "clear_addrs"
		case r < 54:
			o["op"] = "addrs"
		case r < 58:
			key := who
			if rng.Intn(4) == 0 {
				key = ids[rng.Intn(len(ids))]
			}
			b, _ := crypto.MarshalPublicKey(key.priv.GetPublic())
			o["op"], o["key"] = "add_pubkey", hex.EncodeToString(b)
		case r < 61:
			b, _ := crypto.MarshalPrivateKey(who.priv)
			o["op"], o["key"] = "add_privkey", hex.EncodeToString(b)
		case r < 69:
			o["op"], o["key"], o["value"] = "put", names[rng.Intn(len(names))], randomValue(rng)
		case r < 73:
			o["op"], o["protocols"] = "set_protocols", pickStrings(rng, protocols)
		case r < 77:
			o["op"], o["protocols"] = "add_protocols", pickStrings(rng, protocols)
		case r < 80:
			o["op"], o["protocols"] = "remove_protocols", pickStrings(rng, protocols)
		case r < 90:
			signer := who
			if rng.Intn(8) == 0 {
				signer = ids[rng.Intn(len(ids))]
			}
			var addrs []ma.Multiaddr
			for _, s := range pick(rng.Intn(4)) {
				addrs = append(addrs, ma.StringCast(s))
			}
			rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: who.id, Addrs: addrs})
			rec.Seq = uint64(1 + rng.Intn(6))
			env, err := record.Seal(rec, signer.priv)
			if err != nil {
				return err
			}
			raw, err := env.Marshal()
			if err != nil {
				return err
			}
			delete(o, "peer")
			o["op"], o["envelope"], o["ttl"] = "consume_peer_record", hex.EncodeToString(raw), ttl
		case r < 92:
			o["op"] = "remove_peer"
		default:
			delete(o, "peer")
			o["op"] = "gc"
		}
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	return nil
}

func pickStrings(rng *rand.Rand, from []string) []string {
	perm := rng.Perm(len(from))
	out := []string{}
	for _, i := range perm[:rng.Intn(len(from))+1] {
		out = append(out, from[i])
	}
	return out
}

func randomValue(rng *rand.Rand) map[string]interface{} {
	switch rng.Intn(8) {
	case 0:
		return map[string]interface{}{"type": "string", "value": fmt.Sprintf("agent/%d", rng.Intn(100))}
	case 1:
		return map[string]interface{}{"type": "int", "value": rng.Intn(2000) - 1000}
	case 2:
		return map[string]interface{}{"type": "int64", "value": rng.Int63()}
	case 3:
		return map[string]interface{}{"type": "bool", "value": rng.Intn(2) == 0}
	case 4:
		return map[string]interface{}{"type": "float64", "value": float64(rng.Intn(1000)) / 8}
	case 5:
		return map[string]interface{}{"type": "[]string", "value": []string{"a", fmt.Sprint(rng.Intn(9))}}
	case 6:
		return map[string]interface{}{"type": "[]uint8", "value": hex.EncodeToString([]byte{byte(rng.Intn(256)), 7})}
	default:
		return map[string]interface{}{"type": "uint", "value": rng.Intn(1 << 20)}
	}
}
