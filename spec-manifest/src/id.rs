//! Statement ids: the format rule, the two mistyped 3.1.1 labels, and the reference id lists.
//!
//! The rule: `MQTT-` then a dotted section number, then `-` and a sequence number
//! (`MQTT-3.1.2-7`, `MQTT-4.2-1`). MQTT 3.1.1 prints two labels wrongly in its own text,
//! `MQTT-3.1.2.7` and `MQTT-3-8.3-4`; other tools use them as written, so for 3.1.1 (and only
//! there) exactly those two are accepted as listed exceptions. Each has a regular spelling
//! (`MQTT-3.1.2-7`, `MQTT-3.8.3-4`) that names the same statement: lookups accept either, and a
//! manifest holding both spellings holds a duplicate.

use crate::model::Version;

/// The mistyped 3.1.1 labels, each with the regular spelling of the same statement.
pub const MISTYPED_V3_1_1: [(&str, &str); 2] = [
    ("MQTT-3.1.2.7", "MQTT-3.1.2-7"),
    ("MQTT-3-8.3-4", "MQTT-3.8.3-4"),
];

/// The reference id list of a version, one id per line, as committed in the crate
/// (`ids-v5.0.txt`, `ids-v3.1.1.txt`, generated from the spec's tables).
pub fn reference_ids(version: Version) -> Vec<&'static str> {
    let text = match version {
        Version::V5_0 => include_str!("../ids-v5.0.txt"),
        Version::V3_1_1 => include_str!("../ids-v3.1.1.txt"),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Whether `s` is a dotted number: `3`, `3.1`, `3.1.2.5`.
pub fn is_dotted_number(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The section part of an id that follows the format rule: `3.1.2` for `MQTT-3.1.2-7`.
fn regular_section(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("MQTT-")?;
    let (section, seq) = rest.rsplit_once('-')?;
    let seq_ok = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
    (seq_ok && is_dotted_number(section)).then_some(section)
}

/// The regular spelling of `id`: itself, or for a mistyped 3.1.1 label its corrected form.
pub fn canonical(version: Version, id: &str) -> &str {
    if version == Version::V3_1_1 {
        if let Some((_, regular)) = MISTYPED_V3_1_1.iter().find(|(typo, _)| *typo == id) {
            return regular;
        }
    }
    id
}

/// The other spelling of a 3.1.1 statement that has two (typo ↔ regular), if any.
pub fn alias(version: Version, id: &str) -> Option<&'static str> {
    if version != Version::V3_1_1 {
        return None;
    }
    MISTYPED_V3_1_1.iter().find_map(|&(typo, regular)| {
        if id == typo {
            Some(regular)
        } else if id == regular {
            Some(typo)
        } else {
            None
        }
    })
}

/// The section number an id names, if the id is valid for `version`: `3.1.2` for
/// `MQTT-3.1.2-7`, and for a mistyped label the section of its regular spelling.
pub fn id_section(version: Version, id: &str) -> Option<&str> {
    regular_section(canonical(version, id))
}

/// Whether `id` is a valid statement id for `version` (see the module doc for the rule).
pub fn is_valid_id(version: Version, id: &str) -> bool {
    id_section(version, id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_ids() {
        for v in Version::ALL {
            assert_eq!(id_section(v, "MQTT-3.1.2-7"), Some("3.1.2"));
            assert_eq!(id_section(v, "MQTT-4.2-1"), Some("4.2"));
            assert!(!is_valid_id(v, "MQTT-3.1.2"));
            assert!(!is_valid_id(v, "mqtt-3.1.2-7"));
            assert!(!is_valid_id(v, "MQTT-3.1.2-"));
            assert!(!is_valid_id(v, "MQTT-3..2-1"));
            assert!(!is_valid_id(v, "MQTT-3.1.2-7a"));
        }
    }

    #[test]
    fn mistyped_labels_only_for_3_1_1() {
        assert_eq!(id_section(Version::V3_1_1, "MQTT-3.1.2.7"), Some("3.1.2"));
        assert_eq!(id_section(Version::V3_1_1, "MQTT-3-8.3-4"), Some("3.8.3"));
        assert!(!is_valid_id(Version::V5_0, "MQTT-3.1.2.7"));
        assert!(!is_valid_id(Version::V5_0, "MQTT-3-8.3-4"));
        assert_eq!(alias(Version::V3_1_1, "MQTT-3.8.3-4"), Some("MQTT-3-8.3-4"));
        assert_eq!(alias(Version::V5_0, "MQTT-3.8.3-4"), None);
    }

    #[test]
    fn reference_lists_have_the_spec_counts_and_valid_ids() {
        for v in Version::ALL {
            let ids = reference_ids(v);
            assert_eq!(ids.len(), v.statement_count(), "{v}");
            let unique: std::collections::BTreeSet<_> = ids.iter().collect();
            assert_eq!(
                unique.len(),
                ids.len(),
                "{v}: duplicate in the reference list"
            );
            for id in ids {
                assert!(is_valid_id(v, id), "{v}: {id}");
            }
        }
    }
}
