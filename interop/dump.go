package main

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoreds/pb"
	"github.com/multiformats/go-base32"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"
)

func init() {
	// go-libp2p before v0.25.0 stored protocols under this name.
	gob.Register(map[string]struct{}{})
}

type obj = map[string]interface{}

// dump prints the canonical dump of docs/dump-and-ops.md: what is stored, read with goleveldb directly.
func dump(dir string, out io.Writer) error {
	all, err := entries(dir)
	if err != nil {
		return err
	}
	peers := map[string]obj{}
	var gcLines, otherLines []obj
	peerOf := func(b32 string) obj {
		p, ok := peers[b32]
		if !ok {
			raw, err := base32.RawStdEncoding.DecodeString(b32)
			if err != nil {
				raw = nil
			}
			p = obj{"peer": peer.ID(raw).String(), "b32": b32, "addrs": []interface{}{}, "certified": nil,
				"pub": nil, "priv": nil, "protocols": nil, "protocols_type": nil, "metadata": obj{}}
			peers[b32] = p
		}
		return p
	}
	for _, kv := range all {
		key, value := string(kv[0]), kv[1]
		segs := strings.Split(strings.TrimPrefix(key, "/peers/"), "/")
		isB32 := func(s string) bool { _, err := base32.RawStdEncoding.DecodeString(s); return err == nil && s != "" }
		other := func() {
			otherLines = append(otherLines, obj{"other": obj{"key": key, "value": hex.EncodeToString(value)}})
		}
		switch {
		case len(segs) == 2 && segs[0] == "addrs" && isB32(segs[1]):
			rec := &pb.AddrBookRecord{}
			if err := proto.Unmarshal(value, rec); err != nil {
				other()
				continue
			}
			p := peerOf(segs[1])
			var list []interface{}
			sort.SliceStable(rec.Addrs, func(i, j int) bool {
				a, b := rec.Addrs[i], rec.Addrs[j]
				if a.Expiry != b.Expiry {
					return a.Expiry < b.Expiry
				}
				return bytes.Compare(a.Addr, b.Addr) < 0
			})
			for _, e := range rec.Addrs {
				var addr interface{} = obj{"hex": hex.EncodeToString(e.Addr)}
				if m, err := ma.NewMultiaddrBytes(e.Addr); err == nil {
					addr = m.String()
				}
				list = append(list, obj{"addr": addr, "expiry": e.Expiry, "ttl": e.Ttl})
			}
			if list == nil {
				list = []interface{}{}
			}
			p["addrs"] = list
			if rec.CertifiedRecord != nil {
				p["certified"] = obj{"seq": rec.CertifiedRecord.Seq, "raw": hex.EncodeToString(rec.CertifiedRecord.Raw)}
			}
		case len(segs) == 4 && segs[0] == "gc" && segs[1] == "addrs" && isB32(segs[3]):
			ts, err := strconv.ParseInt(segs[2], 10, 64)
			if err != nil {
				other()
				continue
			}
			gcLines = append(gcLines, obj{"gc": obj{"ts": ts, "b32": segs[3]}})
		case len(segs) == 3 && segs[0] == "keys" && isB32(segs[1]) && (segs[2] == "pub" || segs[2] == "priv"):
			peerOf(segs[1])[segs[2]] = hex.EncodeToString(value)
		case len(segs) == 3 && segs[0] == "metadata" && isB32(segs[1]) && segs[2] != "":
			p := peerOf(segs[1])
			if segs[2] == "protocols" {
				p["protocols_type"] = gobTypeName(value)
				var v interface{}
				if err := gob.NewDecoder(bytes.NewReader(value)).Decode(&v); err == nil {
					var list []string
					switch m := v.(type) {
					case map[protocol.ID]struct{}:
						for k := range m {
							list = append(list, string(k))
						}
					case map[string]struct{}:
						for k := range m {
							list = append(list, k)
						}
					}
					sort.Strings(list)
					if list == nil {
						list = []string{}
					}
					p["protocols"] = list
				}
				continue
			}
			p["metadata"].(obj)[segs[2]] = metadataValue(value)
		default:
			other()
		}
	}
	keys := make([]string, 0, len(peers))
	for k := range peers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, k := range keys {
		if err := enc.Encode(peers[k]); err != nil {
			return err
		}
	}
	for _, l := range append(gcLines, otherLines...) {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return w.Flush()
}

// metadataValue decodes a gob interface value the way pstoreds' Get does, and shows it.
func metadataValue(value []byte) obj {
	var v interface{}
	if err := gob.NewDecoder(bytes.NewReader(value)).Decode(&v); err != nil {
		return obj{"type": gobTypeName(value), "gob": hex.EncodeToString(value)}
	}
	switch x := v.(type) {
	case nil:
		return obj{"type": "nil"}
	case string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr, float32, float64:
		return obj{"type": fmt.Sprintf("%T", x), "value": x}
	case []byte:
		return obj{"type": "[]uint8", "value": hex.EncodeToString(x)}
	case []string:
		return obj{"type": "[]string", "value": x}
	}
	return obj{"type": gobTypeName(value), "gob": hex.EncodeToString(value)}
}

// gobTypeName reads the registered type name at the head of a gob interface value: the first
// message is `uint(len) int(8: interface) 0 uint(name length) name ...`. "?" if it is not there.
func gobTypeName(b []byte) interface{} {
	r := bytes.NewReader(b)
	if _, err := gobUint(r); err != nil {
		return "?"
	}
	if id, err := gobUint(r); err != nil || id != 16 {
		return "?"
	}
	if d, err := gobUint(r); err != nil || d != 0 {
		return "?"
	}
	n, err := gobUint(r)
	if err != nil || n == 0 || n > uint64(r.Len()) {
		if err == nil && n == 0 {
			return "nil"
		}
		return "?"
	}
	name := make([]byte, n)
	io.ReadFull(r, name)
	return string(name)
}

func gobUint(r *bytes.Reader) (uint64, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b < 128 {
		return uint64(b), nil
	}
	n := -int(int8(b))
	if n > 8 {
		return 0, fmt.Errorf("bad uint")
	}
	var v uint64
	for i := 0; i < n; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// compare reads two canonical dumps and reports the first line where they differ as values
// (key order and number formatting do not matter).
func compare(a, b string) error {
	la, err := readLines(a)
	if err != nil {
		return err
	}
	lb, err := readLines(b)
	if err != nil {
		return err
	}
	for i := 0; i < len(la) || i < len(lb); i++ {
		if i >= len(la) || i >= len(lb) {
			extra, file := lb, b
			if i < len(la) {
				extra, file = la, a
			}
			return fmt.Errorf("line %d: only %s has it:\n  %s", i+1, file, extra[i])
		}
		if !jsonEqual(la[i], lb[i]) {
			return fmt.Errorf("line %d differs:\n  %s: %s\n  %s: %s", i+1, a, la[i], b, lb[i])
		}
	}
	fmt.Printf("same: %d lines\n", len(la))
	return nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 64<<20)
	for s.Scan() {
		if strings.TrimSpace(s.Text()) != "" {
			out = append(out, s.Text())
		}
	}
	return out, s.Err()
}

func jsonEqual(a, b string) bool {
	va, ea := decodeJSON(a)
	vb, eb := decodeJSON(b)
	if ea != nil || eb != nil {
		return a == b
	}
	return normalize(va) == normalize(vb)
}

func decodeJSON(s string) (interface{}, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v interface{}
	err := d.Decode(&v)
	return v, err
}

// normalize renders a decoded JSON value canonically: sorted keys, numbers by value.
func normalize(v interface{}) string {
	switch x := v.(type) {
	case map[string]interface{}:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		sb.WriteString("{")
		for _, k := range keys {
			fmt.Fprintf(&sb, "%q:%s,", k, normalize(x[k]))
		}
		return sb.String() + "}"
	case []interface{}:
		var sb strings.Builder
		sb.WriteString("[")
		for _, e := range x {
			sb.WriteString(normalize(e) + ",")
		}
		return sb.String() + "]"
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return strconv.FormatUint(u, 10)
		}
		f, _ := x.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	default:
		j, _ := json.Marshal(x)
		return string(j)
	}
}

// compareErrors checks that two `apply` error reports name the same failing lines (messages
// differ between the implementations; which ops fail must not).
func compareErrors(a, b string) error {
	lines := func(path string) ([]int64, error) {
		ls, err := readLines(path)
		if err != nil {
			return nil, err
		}
		var out []int64
		for _, l := range ls {
			var v struct {
				Line int64 `json:"line"`
			}
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
			out = append(out, v.Line)
		}
		return out, nil
	}
	la, err := lines(a)
	if err != nil {
		return err
	}
	lb, err := lines(b)
	if err != nil {
		return err
	}
	if fmt.Sprint(la) != fmt.Sprint(lb) {
		return fmt.Errorf("failing ops differ:\n  %s: lines %v\n  %s: lines %v", a, la, b, lb)
	}
	return nil
}
