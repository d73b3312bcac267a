//! Teeth: a bug planted in the broker or its file store (feature `fault-injection`, enabled for
//! this crate's tests) is caught by the auditor within a bounded number of seeds, the failing
//! run writes a replay file, and replaying it reproduces the same trace and the same violation.
//! Without the planted bug the same seeds pass.

use simulator::plan::{FaultKind, FaultSelection, Planted, StorageKind, StorageSelection};
use simulator::replay::{self, Build, ReplayFile};
use simulator::{Plan, Settings};

/// Seeds tried before giving up.
const BOUND: u64 = 12;

fn settings(faults: FaultSelection) -> Settings {
    Settings {
        clients: 4,
        duration_secs: 10,
        liveness_secs: 10,
        faults,
        storage: StorageSelection::Fixed(StorageKind::Memory),
    }
}

/// The file store on the simulated disk, with broker crashes (and `more`).
fn durable(clients: usize, more: &[FaultKind]) -> Settings {
    let mut kinds = vec![FaultKind::BrokerCrash];
    kinds.extend_from_slice(more);
    kinds.sort();
    Settings {
        clients,
        storage: StorageSelection::Fixed(StorageKind::File),
        ..settings(FaultSelection::List(kinds))
    }
}

fn catches(planted: Planted, faults: FaultSelection, property: &str) {
    catches_with(planted, &settings(faults), property);
}

fn catches_with(planted: Planted, s: &Settings, property: &str) {
    let s = s.clone();
    let mut caught = None;
    for seed in 0..BOUND {
        let mut plan = Plan::generate(seed, &s);
        plan.options.planted = planted;
        let out = simulator::check(plan).expect("run");
        if out.violations.iter().any(|v| v.property == property) {
            caught = Some(out);
            break;
        }
    }
    let out = caught.unwrap_or_else(|| panic!("{property} not caught within {BOUND} seeds"));
    let seed = out.plan.options.seed;

    // Without the bug the same seed passes.
    let clean = simulator::check(Plan::generate(seed, &s)).expect("run");
    assert!(
        clean.violations.is_empty(),
        "seed {seed} fails without the planted bug: {:?}",
        clean.violations
    );

    // The replay file reproduces it.
    let dir =
        std::env::temp_dir().join(format!("simulator-teeth-{}-{property}", std::process::id()));
    let build = Build::detect(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(build.features.contains(&"fault-injection".to_string()));
    let path = ReplayFile::new(&out, build, format!("seed {seed}"))
        .write(&dir)
        .expect("write");
    let file = ReplayFile::read(&path).expect("read");
    assert_eq!(
        file.plan.options.planted, planted,
        "the file records the planted bug"
    );
    let again = replay::replay(&file).expect("replay");
    assert_eq!(again.divergence, None, "the replay diverged");
    assert!(again
        .outcome
        .violations
        .iter()
        .any(|v| v.property == property));
    assert_eq!(again.outcome.violations, out.violations);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dropped_qos1_on_resume_is_caught() {
    catches(
        Planted {
            drop_qos1_on_resume: true,
            ..Planted::default()
        },
        FaultSelection::List(vec![FaultKind::Partition, FaultKind::Hold]),
        "qos1-acked-delivered",
    );
}

#[test]
fn duplicated_qos2_is_caught() {
    catches(
        Planted {
            duplicate_qos2: true,
            ..Planted::default()
        },
        FaultSelection::None,
        "qos2-no-duplicate",
    );
}

/// A store that acknowledges before its writes are synced loses acknowledged messages, sessions
/// or retained values when the broker loses power.
#[test]
fn store_acknowledging_before_sync_is_caught() {
    let planted = Planted {
        store_ack_before_sync: true,
        ..Planted::default()
    };
    let s = durable(4, &[]);
    // Any of the durable promises may be the one broken first; the first caught seed names it.
    let mut plan = None;
    for seed in 0..BOUND {
        let mut p = Plan::generate(seed, &s);
        p.options.planted = planted;
        let out = simulator::check(p).expect("run");
        assert!(
            out.result.disk.is_some_and(|d| d.crashes > 0),
            "seed {seed}: the simulated disk saw no crash"
        );
        if let Some(v) = out.violations.first() {
            plan = Some(v.property.clone());
            break;
        }
    }
    let property = plan.unwrap_or_else(|| panic!("not caught within {BOUND} seeds"));
    catches_with(planted, &s, &property);
}

/// A store that forgets QoS 2 state on recovery loses QoS 2 messages in flight to subscribers
/// (or delivers a resent QoS 2 publish twice).
#[test]
fn store_forgetting_qos2_on_recovery_is_caught() {
    catches_with(
        Planted {
            store_forgets_qos2: true,
            ..Planted::default()
        },
        &durable(8, &[FaultKind::Latency, FaultKind::Partition]),
        "qos1-acked-delivered",
    );
}
