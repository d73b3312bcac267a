//! Determinism: the same plan gives the same history, digest for digest. 50 seeds with swarm
//! faults, each run twice (short runs: 4 clients, 10 s of faults, 10 s to converge).

use simulator::{Plan, Settings};

fn settings() -> Settings {
    Settings {
        clients: 4,
        duration_secs: 10,
        liveness_secs: 10,
        ..Settings::default()
    }
}

fn digests(seed: u64) -> Vec<u64> {
    let r = simulator::run(&Plan::generate(seed, &settings())).expect("run");
    assert!(r.error.is_none(), "seed {seed}: {:?}", r.error);
    r.history.digests
}

#[test]
fn fifty_seeds_twice_identical_digests() {
    let seeds: Vec<u64> = (1000..1050).collect();
    // Two threads: each simulation is single-threaded and self-contained.
    let (a, b) = seeds.split_at(seeds.len() / 2);
    std::thread::scope(|s| {
        for half in [a, b] {
            s.spawn(move || {
                for &seed in half {
                    let first = digests(seed);
                    let second = digests(seed);
                    assert!(!first.is_empty());
                    assert_eq!(first, second, "seed {seed}: the two runs diverged");
                }
            });
        }
    });
}

#[test]
fn different_seeds_differ() {
    assert_ne!(digests(1), digests(2));
}
