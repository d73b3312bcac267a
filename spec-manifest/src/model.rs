//! The manifest's vocabulary: protocol versions, RFC 2119 levels, roles, and one statement.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A version of the MQTT specification that the manifest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// MQTT Version 5.0, OASIS Standard, 7 March 2019 (251 statements).
    V5_0,
    /// MQTT Version 3.1.1 Plus Errata 01 (141 statements).
    V3_1_1,
}

impl Version {
    /// Every version, newest first: the order reports use.
    pub const ALL: [Version; 2] = [Version::V5_0, Version::V3_1_1];

    /// The number as the manifest writes it: `"5.0"` or `"3.1.1"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V5_0 => "5.0",
            Version::V3_1_1 => "3.1.1",
        }
    }

    /// How many numbered normative statements the specification has.
    pub const fn statement_count(self) -> usize {
        match self {
            Version::V5_0 => 251,
            Version::V3_1_1 => 141,
        }
    }

    /// The manifest's file name inside the crate: `mqtt-v5.0.toml` or `mqtt-v3.1.1.toml`.
    pub const fn file_name(self) -> &'static str {
        match self {
            Version::V5_0 => "mqtt-v5.0.toml",
            Version::V3_1_1 => "mqtt-v3.1.1.toml",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no known version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown MQTT version {0:?}: expected \"5.0\" or \"3.1.1\"")]
pub struct UnknownVersion(pub String);

impl FromStr for Version {
    type Err = UnknownVersion;

    /// Accepts `5.0`, `5`, `3.1.1`, with an optional leading `v`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix('v').unwrap_or(s) {
            "5.0" | "5" => Ok(Version::V5_0),
            "3.1.1" => Ok(Version::V3_1_1),
            _ => Err(UnknownVersion(s.to_owned())),
        }
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The strength of a statement: its strongest RFC 2119 keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// `MUST` (also SHALL, REQUIRED).
    #[serde(rename = "MUST")]
    Must,
    /// `MUST NOT` (also SHALL NOT).
    #[serde(rename = "MUST NOT")]
    MustNot,
    /// `SHOULD` (also RECOMMENDED).
    #[serde(rename = "SHOULD")]
    Should,
    /// `SHOULD NOT`.
    #[serde(rename = "SHOULD NOT")]
    ShouldNot,
    /// `MAY` (also OPTIONAL): a choice to record, not to judge.
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// Every level, strongest first.
    pub const ALL: [Level; 5] = [
        Level::Must,
        Level::MustNot,
        Level::Should,
        Level::ShouldNot,
        Level::May,
    ];

    /// The keyword as the manifest writes it, e.g. `"MUST NOT"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::MustNot => "MUST NOT",
            Level::Should => "SHOULD",
            Level::ShouldNot => "SHOULD NOT",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ();

    /// Exactly the manifest's spelling (uppercase, one space).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL.into_iter().find(|l| l.as_str() == s).ok_or(())
    }
}

/// Who has to act for a statement to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The server (broker).
    Server,
    /// The client.
    Client,
    /// Either side, as sender or receiver (data representation, malformed packets).
    Both,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 3] = [Role::Server, Role::Client, Role::Both];

    /// The role as the manifest writes it: `"server"`, `"client"` or `"both"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Both => "both",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();

    /// Exactly the manifest's spelling (lowercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

/// One normative statement of the specification, as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The spec's label, e.g. `MQTT-3.1.2-7` (two 3.1.1 labels are mistyped in the spec and kept
    /// as written; see [`crate::id`]).
    pub id: String,
    /// The deepest numbered subsection that holds the statement, e.g. `3.1.2.5`.
    pub section: String,
    /// That subsection's title, e.g. `Will Flag`.
    pub title: String,
    /// The strongest RFC 2119 keyword of the statement.
    pub level: Level,
    /// Who has to act.
    pub role: Role,
    /// The project's own one-line summary (at most 160 characters): what to check on the wire.
    pub summary: String,
    /// Whether any peer can observe the behaviour on the wire.
    pub observable: bool,
    /// Why the statement is not observable; present exactly when `observable` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Related ids, the choice the spec leaves open, known differences between brokers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// Whether `section` is `prefix` or lies below it: `3.1` holds `3.1` and `3.1.2.5` but not
/// `3.10`. A trailing dot on the prefix is ignored; an empty prefix holds everything.
pub fn section_in(section: &str, prefix: &str) -> bool {
    let prefix = prefix.strip_suffix('.').unwrap_or(prefix);
    if prefix.is_empty() {
        return true;
    }
    match section.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with('.'),
        None => false,
    }
}

/// Orders dotted section numbers numerically (`3.2` < `3.10`); non-numeric parts sort last.
pub fn section_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Vec<u32> {
        s.split('.')
            .map(|p| p.parse().unwrap_or(u32::MAX))
            .collect()
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_prefix_respects_component_boundaries() {
        assert!(section_in("3.1", "3.1"));
        assert!(section_in("3.1.2.5", "3.1"));
        assert!(section_in("3.1.2.5", "3.1."));
        assert!(!section_in("3.10", "3.1"));
        assert!(!section_in("3.10.1", "3.1"));
        assert!(!section_in("3", "3.1"));
        assert!(section_in("4.2", ""));
    }

    #[test]
    fn sections_sort_numerically() {
        let mut v = vec!["3.10", "3.2", "3.1.2", "3.1", "10.1", "4"];
        v.sort_by(|a, b| section_cmp(a, b));
        assert_eq!(v, ["3.1", "3.1.2", "3.2", "3.10", "4", "10.1"]);
    }

    #[test]
    fn versions_round_trip() {
        for v in Version::ALL {
            assert_eq!(v.to_string().parse::<Version>(), Ok(v));
        }
        assert_eq!("v5".parse::<Version>(), Ok(Version::V5_0));
        assert!("3.1".parse::<Version>().is_err());
    }

    #[test]
    fn levels_and_roles_parse_only_the_manifest_spelling() {
        assert_eq!("MUST NOT".parse::<Level>(), Ok(Level::MustNot));
        assert!("must".parse::<Level>().is_err());
        assert!("MUST  NOT".parse::<Level>().is_err());
        assert_eq!("both".parse::<Role>(), Ok(Role::Both));
        assert!("Server".parse::<Role>().is_err());
    }
}
