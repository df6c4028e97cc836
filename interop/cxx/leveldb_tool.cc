// leveldb_tool: C++ LevelDB 1.23 (Debian's libleveldb-dev) as an independent judge of the
// files pstoreds' engine writes, and as a writer of databases for it to read.
//
//   leveldb_tool list DIR
//       open DIR with paranoid_checks (no repair, no create), read every entry with checksums
//       verified, print "HEXKEY HEXVALUE" lines in key order; exit 1 naming the problem.
//   leveldb_tool write DIR SEED OPS
//       a seeded random workload of OPS operations (puts, deletes, batches, syncs, range
//       compactions, reopens) with a 64 KiB write buffer, so that tables flush and levels
//       compact; the filter policy and compression follow the seed (odd: Bloom filters;
//       divisible by 3: no compression). Prints what the database must hold, as `list` does.
//
//   leveldb_tool hold DIR
//       open DIR (creating it if missing), print "held", keep it open until stdin closes.
//   leveldb_tool bench DIR N
//       the engine benchmark of benches/compare_engine.sh (db_bench's shapes, the same keys,
//       values and options as its Go and Rust halves): prints "ROW MICROS_PER_OP" lines.
//
// Built by interop/cxx/build.sh; run by tests/leveldb_foreign.rs and the engine tests.
#include <chrono>
#include <cstdint>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

namespace {

std::string Hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

int Fail(const std::string& what, const leveldb::Status& s) {
  std::fprintf(stderr, "C++ LevelDB: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

void Print(const std::map<std::string, std::string>& entries) {
  for (const auto& kv : entries) {
    std::printf("%s %s\n", Hex(kv.first).c_str(), Hex(kv.second).c_str());
  }
}

int List(const std::string& dir) {
  std::unique_ptr<const leveldb::FilterPolicy> filter(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options options;
  options.create_if_missing = false;
  options.paranoid_checks = true;
  options.filter_policy = filter.get();
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Fail("open " + dir, s);
  std::unique_ptr<leveldb::DB> db(raw);
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  read.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(read));
  std::map<std::string, std::string> entries;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    entries[it->key().ToString()] = it->value().ToString();
  }
  if (!it->status().ok()) return Fail("reading " + dir, it->status());
  // Point reads go through the filters and the table index, not only the iterator.
  for (const auto& kv : entries) {
    std::string v;
    s = db->Get(read, kv.first, &v);
    if (!s.ok()) return Fail("get " + Hex(kv.first), s);
    if (v != kv.second) {
      std::fprintf(stderr, "C++ LevelDB: get %s disagrees with the iterator\n",
                   Hex(kv.first).c_str());
      return 1;
    }
  }
  Print(entries);
  return 0;
}

struct Rng {
  uint64_t x;
  uint64_t Next() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
};

std::string Key(Rng& rng) {
  char buf[32];
  uint64_t i = rng.Below(2000);
  std::snprintf(buf, sizeof buf, "/k/%05llu", static_cast<unsigned long long>(i));
  std::string k(buf);
  if (i % 13 == 0) k += std::string(40, 'x');
  return k;
}

std::string Value(Rng& rng) {
  size_t len;
  switch (rng.Below(10)) {
    case 0: len = 0; break;
    case 9: len = 3000 + rng.Below(6000); break;
    default: len = rng.Below(300);
  }
  std::string v(len, '\0');
  bool random = rng.Below(3) == 0;
  char fill = static_cast<char>('a' + rng.Below(26));
  for (auto& c : v) c = random ? static_cast<char>(rng.Next()) : fill;
  return v;
}

int Write(const std::string& dir, uint64_t seed, uint64_t ops) {
  Rng rng{seed | 1};
  std::unique_ptr<const leveldb::FilterPolicy> filter(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.paranoid_checks = true;
  options.write_buffer_size = 64 << 10;
  options.filter_policy = seed % 2 == 1 ? filter.get() : nullptr;
  options.compression = seed % 3 == 0 ? leveldb::kNoCompression : leveldb::kSnappyCompression;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Fail("create " + dir, s);
  std::unique_ptr<leveldb::DB> db(raw);
  options.error_if_exists = false;
  std::map<std::string, std::string> model;
  for (uint64_t op = 0; op < ops; op++) {
    leveldb::WriteOptions write;
    write.sync = rng.Below(50) == 0;
    uint64_t pick = rng.Below(100);
    if (pick < 60) {
      std::string k = Key(rng), v = Value(rng);
      s = db->Put(write, k, v);
      model[k] = v;
    } else if (pick < 80) {
      std::string k = Key(rng);
      s = db->Delete(write, k);
      model.erase(k);
    } else if (pick < 98) {
      leveldb::WriteBatch batch;
      uint64_t n = 2 + rng.Below(20);
      for (uint64_t i = 0; i < n; i++) {
        std::string k = Key(rng);
        if (rng.Below(4) == 0) {
          batch.Delete(k);
          model.erase(k);
        } else {
          std::string v = Value(rng);
          batch.Put(k, v);
          model[k] = v;
        }
      }
      s = db->Write(write, &batch);
    } else if (pick < 99) {
      std::string a = Key(rng), b = Key(rng);
      if (b < a) std::swap(a, b);
      leveldb::Slice begin(a), end(b);
      db->CompactRange(&begin, &end);
    } else {
      db.reset();
      s = leveldb::DB::Open(options, dir, &raw);
      if (s.ok()) db.reset(raw);
    }
    if (!s.ok()) return Fail("op " + std::to_string(op), s);
  }
  db.reset();
  Print(model);
  return 0;
}


// ---- the engine benchmark: 19-byte keys /k/%016llu over a key space of N, 100-byte values
// half compressible, Bloom filters (10 bits a key), Snappy, 4 MiB write buffer ----

std::string BenchKey(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "/k/%016llu", static_cast<unsigned long long>(i));
  return buf;
}

std::string BenchValue(Rng& rng) {
  std::string half(50, '\0');
  for (auto& c : half) c = static_cast<char>('a' + rng.Below(26));
  return half + half;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int Bench(const std::string& dir, uint64_t n) {
  std::unique_ptr<const leveldb::FilterPolicy> filter(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  options.filter_policy = filter.get();
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Fail("create " + dir, s);
  std::unique_ptr<leveldb::DB> db(raw);
  auto report = [](const char* row, double seconds, uint64_t ops) {
    std::printf("%s %.3f\n", row, seconds * 1e6 / static_cast<double>(ops));
    std::fflush(stdout);
  };
  auto fill = [&](const char* row, int threads, uint64_t per_thread, bool sync,
                  uint64_t seed) -> bool {
    bool ok = true;
    double t = Now();
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; w++) {
      workers.emplace_back([&, w] {
        Rng rng{seed + static_cast<uint64_t>(w) * 7919 + 1};
        leveldb::WriteOptions write;
        write.sync = sync;
        for (uint64_t i = 0; i < per_thread; i++) {
          if (!db->Put(write, BenchKey(rng.Below(n)), BenchValue(rng)).ok()) ok = false;
        }
      });
    }
    for (auto& w : workers) w.join();
    report(row, Now() - t, per_thread * static_cast<uint64_t>(threads));
    return ok;
  };
  if (!fill("fillrandom", 1, n, false, 1)) return 1;
  if (!fill("overwrite", 1, n, false, 2)) return 1;
  {
    Rng rng{3};
    std::string v;
    uint64_t found = 0;
    double t = Now();
    for (uint64_t i = 0; i < n; i++) {
      if (db->Get(leveldb::ReadOptions(), BenchKey(rng.Below(n)), &v).ok()) found++;
    }
    report("readrandom", Now() - t, n);
    if (found == 0) return 1;
  }
  {
    uint64_t entries = 0;
    double t = Now();
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) entries++;
    report("readseq", Now() - t, entries);
  }
  if (!fill("fillrandom-8-threads", 8, n / 8, false, 4)) return 1;
  if (!fill("fillsync", 1, 2000, true, 5)) return 1;
  if (!fill("fillsync-8-threads", 8, 1000, true, 6)) return 1;
  return 0;
}

int Hold(const std::string& dir) {
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Fail("open " + dir, s);
  std::unique_ptr<leveldb::DB> db(raw);
  std::printf("held\n");
  std::fflush(stdout);
  while (std::getchar() != EOF) {
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "list") return List(args[1]);
  if (args.size() == 4 && args[0] == "write") {
    return Write(args[1], std::strtoull(args[2].c_str(), nullptr, 10),
                 std::strtoull(args[3].c_str(), nullptr, 10));
  }
  if (args.size() == 2 && args[0] == "hold") return Hold(args[1]);
  if (args.size() == 3 && args[0] == "bench") {
    return Bench(args[1], std::strtoull(args[2].c_str(), nullptr, 10));
  }
  std::fprintf(stderr, "usage: leveldb_tool list DIR | write DIR SEED OPS | hold DIR | bench DIR N\n");
  return 2;
}
