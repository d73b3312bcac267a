//! Teeth: a bug planted in the broker (feature `fault-injection`, enabled for this crate's
//! tests) is caught by the auditor within a bounded number of seeds, the failing run writes a
//! replay file, and replaying it reproduces the same trace and the same violation. Without the
//! planted bug the same seeds pass.

use simulator::plan::{FaultKind, FaultSelection, Planted};
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
    }
}

fn catches(planted: Planted, faults: FaultSelection, property: &str) {
    let s = settings(faults);
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
