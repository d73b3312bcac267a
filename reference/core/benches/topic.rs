//! Topic matching: one topic name against 10,000 subscriptions, with the [`TopicTrie`] and with
//! the naive loop over [`matches`](fn@matches) that it replaces.
//!
//! The filters are a deterministic mix shaped like a device fleet: mostly exact topics
//! (`site3/b7/dev42/temp`), some `+` (`site3/+/dev42/temp`), some `#` (`site3/b7/#`) and a few
//! `$SYS/...`. Run: `cargo bench -p mqttref-core --bench topic`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mqttref_core::topic::{matches, TopicTrie};
use std::hint::black_box;

const FILTERS: usize = 10_000;
const METRICS: [&str; 4] = ["temp", "humidity", "power", "status"];

/// xorshift64: a fixed sequence, so every run benchmarks the same filters.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn filters() -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..FILTERS)
        .map(|_| {
            let site = rng.below(20);
            let building = rng.below(10);
            let device = rng.below(100);
            let metric = METRICS[rng.below(4) as usize];
            match rng.below(100) {
                0..=69 => format!("site{site}/b{building}/dev{device}/{metric}"),
                70..=79 => format!("site{site}/+/dev{device}/{metric}"),
                80..=87 => format!("site{site}/b{building}/+/{metric}"),
                88..=95 => format!("site{site}/b{building}/#"),
                96..=97 => format!("+/b{building}/dev{device}/#"),
                98 => format!("$SYS/broker/clients/{device}"),
                _ => "$SYS/#".to_owned(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let filters = filters();
    let mut trie = TopicTrie::new();
    for (i, f) in filters.iter().enumerate() {
        trie.insert(f, i as u32)
            .expect("generated filters are valid");
    }
    let names = [
        ("device", "site3/b7/dev42/temp"),
        ("miss", "site99/b7/dev42/temp"),
        ("sys", "$SYS/broker/clients/42"),
    ];
    for (label, name) in names {
        let naive = filters.iter().filter(|f| matches(f, name)).count();
        let mut via_trie = 0;
        trie.matches(name, |_, _| via_trie += 1);
        assert_eq!(naive, via_trie, "trie and matches disagree on {name}");
        println!("{label}: {name:?} matches {naive} of {FILTERS} filters");
    }

    let mut group = c.benchmark_group("match_10k_filters");
    group.throughput(Throughput::Elements(1));
    for (label, name) in names {
        group.bench_with_input(BenchmarkId::new("trie", label), name, |b, name| {
            b.iter(|| {
                let mut hits = 0u32;
                trie.matches(black_box(name), |_, v| hits = hits.wrapping_add(*v));
                hits
            })
        });
        group.bench_with_input(BenchmarkId::new("naive", label), name, |b, name| {
            b.iter(|| {
                let name = black_box(name);
                filters.iter().filter(|f| matches(f, name)).count()
            })
        });
    }
    group.finish();

    c.bench_function("insert_10k_filters", |b| {
        b.iter(|| {
            let mut trie = TopicTrie::new();
            for f in &filters {
                trie.insert(f, ()).expect("valid");
            }
            trie
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
