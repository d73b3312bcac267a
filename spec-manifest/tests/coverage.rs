//! Coverage of a small manifest: statuses, aggregation per section and role, unknown ids, and
//! the JSON and Markdown outputs.

use spec_manifest::coverage::group_of;
use spec_manifest::{Coverage, Manifest, Status, Tally};
use std::path::PathBuf;

fn manifest() -> Manifest {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid-v5.0.toml");
    Manifest::load(&path).unwrap()
}

fn tally(total: usize, tested: usize, untested: usize, not_observable: usize) -> Tally {
    Tally {
        total,
        tested,
        untested,
        not_observable,
    }
}

#[test]
fn statuses_and_aggregates() {
    let m = manifest();
    let declared = [
        "MQTT-3.1.2-7",
        "MQTT-3.1.2-7",
        "MQTT-1.5.4-1",
        "MQTT-9.9-9",
        "MQTT-4.2-1",
    ];
    let c = Coverage::compute(&m, declared);

    let status: Vec<(&str, Status, usize)> = c
        .statements
        .iter()
        .map(|s| (s.id.as_str(), s.status, s.scenarios))
        .collect();
    assert_eq!(
        status,
        [
            ("MQTT-1.5.4-1", Status::Tested, 1),
            ("MQTT-3.1.2-7", Status::Tested, 2),
            ("MQTT-3.10.1-1", Status::Untested, 0),
            ("MQTT-4.2-1", Status::Tested, 1),
            ("MQTT-3.1.0-1", Status::Untested, 0),
        ]
    );
    assert_eq!(c.totals, tally(5, 3, 2, 0));
    assert_eq!(c.unknown_ids, ["MQTT-9.9-9"]);
    assert_eq!(c.tested_but_not_observable, ["MQTT-4.2-1"]);
    let err = c.check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "5.0: scenarios declare ids that are not in the manifest: MQTT-9.9-9"
    );

    let groups: Vec<(&str, Tally)> = c
        .by_group
        .iter()
        .map(|g| (g.key.as_str(), g.tally))
        .collect();
    assert_eq!(
        groups,
        [
            ("1.5", tally(1, 1, 0, 0)),
            ("3.1", tally(2, 1, 1, 0)),
            ("3.10", tally(1, 0, 1, 0)),
            ("4.2", tally(1, 1, 0, 0)),
        ]
    );
    let sections: Vec<(&str, Option<&str>)> = c
        .by_section
        .iter()
        .map(|g| (g.key.as_str(), g.title.as_deref()))
        .collect();
    assert_eq!(
        sections,
        [
            ("1.5.4", Some("UTF-8 Encoded String")),
            ("3.1", Some("CONNECT - Connection Request")),
            ("3.1.2.5", Some("Will Flag")),
            ("3.10.1", Some("UNSUBSCRIBE Fixed Header")),
            ("4.2", Some("Network Connections")),
        ]
    );
    let roles: Vec<(&str, Tally)> = c
        .by_role
        .iter()
        .map(|g| (g.key.as_str(), g.tally))
        .collect();
    assert_eq!(
        roles,
        [
            ("server", tally(2, 1, 1, 0)),
            ("client", tally(1, 0, 1, 0)),
            ("both", tally(2, 2, 0, 0))
        ]
    );
}

#[test]
fn nothing_declared() {
    let c = Coverage::compute(&manifest(), []);
    assert_eq!(c.totals, tally(5, 0, 4, 1));
    assert!(c.check().is_ok());
    assert_eq!(
        c.totals_line(),
        "5.0: 5 statements: 0 tested, 4 untested, 1 not observable (0.0% of observable tested)"
    );
    assert_eq!(group_of("3.1.2.5"), "3.1");
}

#[test]
fn json_and_markdown() {
    let c = Coverage::compute(&manifest(), ["MQTT-3.1.2-7"]);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["version"], "5.0");
    assert_eq!(json["totals"]["not_observable"], 1);
    assert_eq!(json["statements"][1]["status"], "tested");
    assert_eq!(json["statements"][3]["status"], "not-observable");
    assert_eq!(json["statements"][3]["level"], "MAY");
    assert_eq!(json["by_role"][0]["key"], "server");
    assert_eq!(json["by_role"][0]["tested"], 1);

    let md = c.to_markdown();
    assert!(md.starts_with("## MQTT 5.0\n"), "{md}");
    assert!(
        md.contains("| section | total | tested | untested | not observable |\n"),
        "{md}"
    );
    assert!(md.contains("| 3.1 | 2 | 1 | 1 | 0 |\n"), "{md}");
    assert!(
        md.contains("| 3.1.2.5 | Will Flag | 1 | 1 | 0 | 0 |\n"),
        "{md}"
    );
    assert!(md.contains("| server | 2 | 1 | 1 | 0 |\n"), "{md}");
}
