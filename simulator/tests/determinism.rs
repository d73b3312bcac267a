//! Determinism: the same plan gives the same history, digest for digest. 50 seeds with swarm
//! faults, each run twice (short runs: 4 clients, 10 s of faults, 10 s to converge); and runs
//! with broker crashes over the file store stay identical however many tokio tasks the process
//! spawned before (the crashed broker's tasks are dropped in an order set by process-global
//! task ids: the simulator must keep that order off the network).

use simulator::plan::{FaultKind, FaultSelection, StorageKind, StorageSelection};
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

/// Moves the process-global tokio task id counter along, as an earlier simulation in the same
/// process (or another thread) would.
fn burn_task_ids(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for _ in 0..n {
            tokio::spawn(async {}).await.expect("task");
        }
    });
}

#[test]
fn broker_crashes_do_not_depend_on_task_ids() {
    let s = Settings {
        faults: FaultSelection::List(vec![FaultKind::BrokerCrash]),
        storage: StorageSelection::Fixed(StorageKind::File),
        ..settings()
    };
    for seed in [3, 4] {
        let plan = Plan::generate(seed, &s);
        let first = simulator::run(&plan).expect("run");
        assert!(first.disk.is_some_and(|d| d.crashes > 0), "seed {seed}");
        for burn in [1, 3, 7] {
            burn_task_ids(burn);
            let again = simulator::run(&plan).expect("run");
            assert_eq!(
                again.history.digests, first.history.digests,
                "seed {seed}: diverged after burning {burn} task ids"
            );
        }
    }
}
