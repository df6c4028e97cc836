//! The Rust half of `benches/compare_scale.sh` (the Go half: `interop scale-*`), on a database
//! go-libp2p wrote (`interop scale-populate`):
//!
//! - `scale open DIR`: open with the default options (GC off) and list every peer, timed from
//!   before the open; one JSON line `{"peers", "seconds", "rss_mib"}` (peak resident set).
//! - `scale churn DIR SECONDS THREADS READ_PERCENT`: THREADS threads for SECONDS, each op on a
//!   random known peer: `addrs` (READ_PERCENT of ops) or `add_addrs` of a new address with a
//!   TTL of 1 to 5 s, while the background GC purges every second (10 s lookahead); writes
//!   not synced. One JSON line: ops/s and latency percentiles in microseconds.
//! - `scale report RESULTS MARKDOWN SVG`: the medians of the runs in RESULTS (lines
//!   `WORKLOAD PEERS SIDE JSON`) as a markdown table (appended to MARKDOWN) and an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;
use pstoreds::datastore::SyncPolicy;
use pstoreds::peerstore::{Options, Ttl};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["open", dir] => open(dir),
        ["churn", dir, seconds, threads, read] => churn(
            dir,
            Duration::from_secs_f64(seconds.parse().expect("SECONDS is a number")),
            threads.parse().expect("THREADS is a number"),
            read.parse().expect("READ_PERCENT is a number"),
        ),
        ["report", results, markdown, svg] => report(results, markdown, svg),
        _ => {
            eprintln!(
                "usage: scale open DIR | churn DIR SECONDS THREADS READ_PERCENT | \
                 report RESULTS MARKDOWN SVG"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("scale: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(-1.0, |kb| kb / 1024.0)
}

fn open(dir: &str) -> Res<()> {
    let start = Instant::now();
    let ps = Options::new()
        .gc_purge_interval(Duration::ZERO)
        .open_leveldb(dir)?;
    let peers = ps.peers()?;
    let seconds = start.elapsed().as_secs_f64();
    ps.close()?;
    println!(
        "{}",
        json!({"peers": peers.len(), "seconds": seconds, "rss_mib": peak_rss_mib()})
    );
    Ok(())
}

/// xorshift64*: the same sequence on every run, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn churn(dir: &str, window: Duration, threads: usize, read_percent: usize) -> Res<()> {
    let ps = Options::new()
        .sync(SyncPolicy::Never)
        .gc_purge_interval(Duration::from_secs(1))
        .gc_lookahead_interval(Duration::from_secs(10))
        .gc_initial_delay(Duration::ZERO)
        .open_leveldb(dir)?;
    let peers = ps.peers_with_addrs()?;
    if peers.is_empty() {
        return Err(format!("{dir}: no peers with addresses").into());
    }
    let start = Instant::now();
    let lat: Vec<Vec<Duration>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                let (ps, peers) = (&ps, &peers);
                s.spawn(move || -> Result<Vec<Duration>, String> {
                    let mut rng = Rng(w as u64 + 1);
                    let mut lat = Vec::new();
                    let mut i = 0usize;
                    while start.elapsed() < window {
                        let p = peers[rng.below(peers.len())].clone();
                        let read = rng.below(100) < read_percent;
                        let ttl = Duration::from_secs(1 + rng.below(5) as u64);
                        let a: Multiaddr =
                            format!("/ip4/10.{w}.{}.{}/tcp/4002", (i / 256) % 256, i % 256)
                                .parse()
                                .map_err(|e| format!("{e}"))?;
                        let t = Instant::now();
                        if read {
                            std::hint::black_box(ps.addrs(p).map_err(|e| e.to_string())?);
                        } else {
                            ps.add_addrs(p, &[a], Ttl::from(ttl))
                                .map_err(|e| e.to_string())?;
                        }
                        lat.push(t.elapsed());
                        i += 1;
                    }
                    Ok(lat)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect::<Result<_, String>>()
    })?;
    let elapsed = start.elapsed();
    ps.close()?;
    let mut all: Vec<Duration> = lat.into_iter().flatten().collect();
    all.sort();
    let pct = |p: f64| {
        all.get((p * (all.len().max(1) - 1) as f64) as usize)
            .map_or(0.0, |d| d.as_nanos() as f64 / 1e3)
    };
    let over = all
        .iter()
        .filter(|d| **d > Duration::from_millis(50))
        .count();
    println!(
        "{}",
        json!({
            "ops_per_s": all.len() as f64 / elapsed.as_secs_f64(),
            "p50_us": pct(0.5), "p99_us": pct(0.99), "p999_us": pct(0.999), "max_us": pct(1.0),
            "over_50ms": over, "rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}

/// (workload, peers, side) -> field -> the values of every round.
type Runs = BTreeMap<(String, u64, String), BTreeMap<String, Vec<f64>>>;

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().checked_sub(1)? / 2).copied()
}

fn read_runs(path: &str) -> Res<Runs> {
    let mut runs = Runs::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let mut parts = line.splitn(4, ' ');
        let (Some(w), Some(n), Some(side), Some(json)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{path}: malformed line {line:?}").into());
        };
        let Value::Object(fields) = serde_json::from_str(json)? else {
            return Err(format!("{path}: not a JSON object: {json}").into());
        };
        let entry = runs
            .entry((w.to_owned(), n.parse()?, side.to_owned()))
            .or_default();
        for (k, v) in fields {
            if let Some(v) = v.as_f64() {
                entry.entry(k).or_default().push(v);
            }
        }
    }
    Ok(runs)
}

fn get(runs: &Runs, w: &str, n: u64, side: &str, field: &str) -> Option<f64> {
    median(runs.get(&(w.to_owned(), n, side.to_owned()))?.get(field)?)
}

fn sizes(runs: &Runs, w: &str) -> Vec<u64> {
    let mut v: Vec<u64> = runs.keys().filter(|k| k.0 == w).map(|k| k.1).collect();
    v.dedup();
    v
}

/// A value in its unit; latencies ("ms") come in microseconds.
fn cell(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "–".to_owned(),
        Some(v) if unit == "ms" && v < 1e3 => format!("{v:.0} µs"),
        Some(v) if unit == "ms" => format!("{:.1} ms", v / 1e3),
        Some(v) if unit == "s" => format!("{v:.3} s"),
        Some(v) if unit == "MiB" => format!("{v:.0} MiB"),
        Some(v) => format!("{v:.0}"),
    }
}

fn ratio(go: Option<f64>, ours: Option<f64>, higher_is_better: bool) -> String {
    match (go, ours) {
        (Some(g), Some(o)) if g > 0.0 && o > 0.0 => {
            format!("{:.2}", if higher_is_better { o / g } else { g / o })
        }
        _ => "–".to_owned(),
    }
}

fn report(results: &str, markdown: &str, svg: &str) -> Res<()> {
    let runs = read_runs(results)?;
    let mut md = String::new();
    writeln!(md, "## Open and list, by database size\n")?;
    writeln!(
        md,
        "| peers | pstoreds | go-libp2p | ratio | pstoreds RSS | go-libp2p RSS | RSS ratio |"
    )?;
    writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|")?;
    for n in sizes(&runs, "open") {
        let f = |side, field| get(&runs, "open", n, side, field);
        writeln!(
            md,
            "| {n} | {} | {} | {} | {} | {} | {} |",
            cell(f("rs", "seconds"), "s"),
            cell(f("go", "seconds"), "s"),
            ratio(f("go", "seconds"), f("rs", "seconds"), false),
            cell(f("rs", "rss_mib"), "MiB"),
            cell(f("go", "rss_mib"), "MiB"),
            ratio(f("go", "rss_mib"), f("rs", "rss_mib"), false),
        )?;
    }
    for w in runs
        .keys()
        .map(|k| k.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if w == "open" {
            continue;
        }
        writeln!(md, "\n## `{w}`, by database size\n")?;
        writeln!(
            md,
            "| peers | side | ops/s | ratio | p50 | p99 | p99.9 | worst | ops over 50 ms | RSS |"
        )?;
        writeln!(md, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for n in sizes(&runs, &w) {
            for (side, name) in [("rs", "pstoreds"), ("go", "go-libp2p")] {
                let f = |field| get(&runs, &w, n, side, field);
                let r = if side == "rs" {
                    ratio(get(&runs, &w, n, "go", "ops_per_s"), f("ops_per_s"), true)
                } else {
                    String::new()
                };
                writeln!(
                    md,
                    "| {n} | {name} | {} | {r} | {} | {} | {} | {} | {} | {} |",
                    cell(f("ops_per_s"), ""),
                    cell(f("p50_us"), "ms"),
                    cell(f("p99_us"), "ms"),
                    cell(f("p999_us"), "ms"),
                    cell(f("max_us"), "ms"),
                    cell(f("over_50ms"), ""),
                    cell(f("rss_mib"), "MiB"),
                )?;
            }
        }
    }
    let mut out = std::fs::read_to_string(markdown).unwrap_or_default();
    out.push_str(&md);
    std::fs::write(markdown, out)?;
    std::fs::write(svg, chart(&runs))?;
    Ok(())
}

/// One panel of the chart: a metric of one workload against the database size, both sides.
struct Panel {
    title: &'static str,
    workload: &'static str,
    field: &'static str,
    scale: f64,
}

const PANELS: [Panel; 6] = [
    Panel {
        title: "open + list: seconds",
        workload: "open",
        field: "seconds",
        scale: 1.0,
    },
    Panel {
        title: "open + list: peak RSS (MiB)",
        workload: "open",
        field: "rss_mib",
        scale: 1.0,
    },
    Panel {
        title: "churn 90/10: ops/s",
        workload: "churn-90-10",
        field: "ops_per_s",
        scale: 1.0,
    },
    Panel {
        title: "churn 90/10: worst op (ms)",
        workload: "churn-90-10",
        field: "max_us",
        scale: 1e-3,
    },
    Panel {
        title: "4 writers: ops/s",
        workload: "churn-writes",
        field: "ops_per_s",
        scale: 1.0,
    },
    Panel {
        title: "4 writers: worst op (ms)",
        workload: "churn-writes",
        field: "max_us",
        scale: 1e-3,
    },
];

/// Six panels (two per row), log-scaled peers on x, linear y from zero; pstoreds in blue,
/// go-libp2p in orange.
fn chart(runs: &Runs) -> String {
    let (pw, ph, margin) = (420.0, 240.0, 50.0);
    let rows = PANELS.len().div_ceil(2) as f64;
    let (width, height) = (2.0 * pw, rows * ph + 30.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" "#,
            r#"font-family="sans-serif" font-size="11">"#
        ),
        width, height
    );
    let _ = writeln!(
        s,
        concat!(
            r#"<rect width="100%" height="100%" fill="white"/>"#,
            r#"<text x="10" y="18" font-size="13">pstoreds (blue) and go-libp2p pstoreds "#,
            "(orange), by peers in the database (log scale); generated by ",
            "benches/compare_scale.sh</text>"
        )
    );
    for (i, p) in PANELS.iter().enumerate() {
        let (ox, oy) = ((i % 2) as f64 * pw, 30.0 + (i / 2) as f64 * ph);
        let (x0, x1, y0, y1) = (ox + margin, ox + pw - 20.0, oy + ph - 35.0, oy + 25.0);
        let ns = sizes(runs, p.workload);
        let series: Vec<(&str, Vec<(u64, f64)>)> = [("rs", "#1f77b4"), ("go", "#ff7f0e")]
            .iter()
            .map(|(side, _)| {
                let pts = ns
                    .iter()
                    .filter_map(|&n| Some((n, get(runs, p.workload, n, side, p.field)? * p.scale)))
                    .collect();
                (*side, pts)
            })
            .collect();
        let ymax = series
            .iter()
            .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.1;
        let (nmin, nmax) = (
            ns.first().copied().unwrap_or(1) as f64,
            ns.last().copied().unwrap_or(10) as f64,
        );
        let span = (nmax.log10() - nmin.log10()).max(1e-9);
        let x = |n: u64| x0 + (x1 - x0) * ((n as f64).log10() - nmin.log10()) / span;
        let y = |v: f64| y0 - (y0 - y1) * v / ymax;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
            x0,
            oy + 15.0,
            p.title
        );
        let _ = writeln!(
            s,
            r#"<path d="M{x0},{y1} L{x0},{y0} L{x1},{y0}" stroke="black" fill="none"/>"#
        );
        for k in 0..=4 {
            let v = ymax * k as f64 / 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                x0 - 4.0,
                y(v) + 4.0,
                short(v)
            );
        }
        for &n in &ns {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                x(n),
                y0 + 14.0,
                short(n as f64)
            );
        }
        for ((_, pts), color) in series.iter().zip(["#1f77b4", "#ff7f0e"]) {
            let d: Vec<String> = pts
                .iter()
                .map(|&(n, v)| format!("{:.1},{:.1}", x(n), y(v)))
                .collect();
            if !d.is_empty() {
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" stroke="{color}" stroke-width="2" fill="none"/>"#,
                    d.join(" ")
                );
            }
            for &(n, v) in pts {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                    x(n),
                    y(v)
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// 1500 -> "1.5k", 2000000 -> "2M", 0.25 -> "0.25".
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
