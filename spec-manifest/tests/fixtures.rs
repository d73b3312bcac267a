//! Loading the fixture files: valid ones give the expected statements, invalid ones give every
//! expected problem with its line and field.

use spec_manifest::{Level, Manifest, ManifestError, ProblemKind, Role, Version};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn problems(name: &str) -> Vec<(usize, String, ProblemKind)> {
    match Manifest::load(&fixture(name)) {
        Err(ManifestError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.line, p.field, p.kind))
            .collect(),
        other => panic!("{name}: expected validation problems, got {other:?}"),
    }
}

fn p(line: usize, field: &str, kind: ProblemKind) -> (usize, String, ProblemKind) {
    (line, field.to_owned(), kind)
}

#[test]
fn valid_v5_loads_in_file_order_with_lookups() {
    let m = Manifest::load(&fixture("valid-v5.0.toml")).unwrap();
    assert_eq!(m.version(), Version::V5_0);
    assert_eq!(m.spec(), "MQTT Version 5.0, OASIS Standard, 7 March 2019");
    let ids: Vec<&str> = m.ids().collect();
    assert_eq!(
        ids,
        [
            "MQTT-1.5.4-1",
            "MQTT-3.1.2-7",
            "MQTT-3.10.1-1",
            "MQTT-4.2-1",
            "MQTT-3.1.0-1"
        ]
    );

    let will = m.get("MQTT-3.1.2-7").unwrap();
    assert_eq!(will.section, "3.1.2.5");
    assert_eq!(will.title, "Will Flag");
    assert_eq!(will.level, Level::Must);
    assert_eq!(will.role, Role::Server);
    assert!(will.observable);
    assert_eq!(will.reason, None);
    assert_eq!(
        will.notes.as_deref(),
        Some("Related: MQTT-3.1.2-8, MQTT-3.1.2-10.")
    );

    let transport = m.get("MQTT-4.2-1").unwrap();
    assert!(!transport.observable);
    assert!(transport.reason.is_some());
    assert!(m.get("MQTT-4.2.0-1").is_none());

    // `3.1` holds 3.1.2.5 and 3.1, never 3.10.
    let in_3_1: Vec<&str> = m.in_section("3.1").map(|s| s.id.as_str()).collect();
    assert_eq!(in_3_1, ["MQTT-3.1.2-7", "MQTT-3.1.0-1"]);
    let in_3_10: Vec<&str> = m.in_section("3.10").map(|s| s.id.as_str()).collect();
    assert_eq!(in_3_10, ["MQTT-3.10.1-1"]);

    assert_eq!(m.observable_count(), 4);
    assert_eq!(
        m.summary_line(),
        "5.0: 5 statements, 4 observable; MUST 4, MUST NOT 0, SHOULD 0, SHOULD NOT 0, MAY 1"
    );
}

#[test]
fn valid_v3_1_1_accepts_the_two_mistyped_labels_and_finds_them_by_either_spelling() {
    let m = Manifest::load(&fixture("valid-v3.1.1.toml")).unwrap();
    assert_eq!(m.version(), Version::V3_1_1);
    assert_eq!(m.get("MQTT-3.1.2.7").unwrap().id, "MQTT-3.1.2.7");
    assert_eq!(m.get("MQTT-3.1.2-7").unwrap().id, "MQTT-3.1.2.7");
    assert_eq!(m.get("MQTT-3.8.3-4").unwrap().id, "MQTT-3-8.3-4");
    assert_eq!(m.get("MQTT-3.1.2-1").unwrap().level, Level::ShouldNot);
}

#[test]
fn the_mistyped_labels_are_not_accepted_for_5_0() {
    let text = std::fs::read_to_string(fixture("valid-v3.1.1.toml")).unwrap();
    let text = text.replace("version = \"3.1.1\"", "version = \"5.0\"");
    let err = Manifest::parse(&text, "as-5.0.toml", None).unwrap_err();
    let got: Vec<(usize, &str, &ProblemKind)> = err
        .problems()
        .iter()
        .map(|p| (p.line, p.field.as_str(), &p.kind))
        .collect();
    assert_eq!(
        got,
        [
            (5, "id", &ProblemKind::BadId("MQTT-3.1.2.7".into())),
            (13, "id", &ProblemKind::BadId("MQTT-3-8.3-4".into())),
        ]
    );
}

#[test]
fn every_problem_of_every_statement_is_reported_with_its_line() {
    assert_eq!(
        problems("invalid-statements.toml"),
        [
            p(7, "title", ProblemKind::Empty),
            p(8, "level", ProblemKind::BadLevel("must".into())),
            p(9, "role", ProblemKind::BadRole("broker".into())),
            p(11, "color", ProblemKind::UnknownField),
            p(13, "summary", ProblemKind::Missing),
            p(
                14,
                "id",
                ProblemKind::DuplicateId {
                    first: "MQTT-1.5.4-1".into(),
                    first_line: 5
                }
            ),
            p(
                15,
                "section",
                ProblemKind::SectionMismatch {
                    section: "2.1".into(),
                    id_chapter: "1".into()
                }
            ),
            p(21, "id", ProblemKind::BadId("MQTT-3.1.2.7".into())),
            p(26, "summary", ProblemKind::TooLong(197)),
            p(27, "observable", ProblemKind::ReasonMissing),
            p(31, "section", ProblemKind::BadSection("3.2.x".into())),
            p(35, "summary", ProblemKind::MultiLine),
            p(37, "reason", ProblemKind::ReasonWithoutUnobservable),
            p(
                46,
                "observable",
                ProblemKind::WrongType {
                    expected: "a boolean",
                    found: "a string"
                }
            ),
            p(
                47,
                "notes",
                ProblemKind::WrongType {
                    expected: "a string",
                    found: "an integer"
                }
            ),
        ]
    );
}

#[test]
fn header_problems() {
    assert_eq!(
        problems("invalid-header.toml"),
        [
            p(1, "version", ProblemKind::UnknownVersion("4.0".into())),
            p(1, "spec", ProblemKind::Missing),
            p(2, "author", ProblemKind::UnknownField),
        ]
    );
}

#[test]
fn the_two_spellings_of_one_3_1_1_statement_are_a_duplicate() {
    assert_eq!(
        problems("invalid-duplicate-alias.toml"),
        [p(
            13,
            "id",
            ProblemKind::DuplicateId {
                first: "MQTT-3.1.2-7".into(),
                first_line: 5
            }
        )]
    );
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    match Manifest::load(&fixture("invalid-syntax.toml")) {
        Err(ManifestError::Syntax { line, file, .. }) => {
            assert_eq!(line, 6);
            assert!(file.ends_with("invalid-syntax.toml"), "{file}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn the_error_lists_each_problem_as_file_line_field_message() {
    let err = Manifest::load(&fixture("invalid-statements.toml")).unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with("invalid-statements.toml: 15 problem(s):"),
        "{text}"
    );
    assert_eq!(lines.len(), 16, "{text}");
    assert!(
        lines[2].ends_with(
            "invalid-statements.toml:8: level: \"must\" is not a level: expected MUST, MUST NOT, \
             SHOULD, SHOULD NOT or MAY [MQTT-1.5.4-1]"
        ),
        "{text}"
    );
}

#[test]
fn a_file_of_another_version_than_asked_for_is_refused() {
    let text = std::fs::read_to_string(fixture("valid-v3.1.1.toml")).unwrap();
    let err = Manifest::parse(&text, "v3.toml", Some(Version::V5_0)).unwrap_err();
    let kinds: Vec<&ProblemKind> = err.problems().iter().map(|p| &p.kind).collect();
    assert_eq!(
        kinds,
        [&ProblemKind::WrongVersion {
            expected: Version::V5_0,
            found: Version::V3_1_1
        }]
    );
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = Manifest::load(&fixture("no-such-file.toml")).unwrap_err();
    assert!(matches!(err, ManifestError::Read { .. }), "{err:?}");
}
