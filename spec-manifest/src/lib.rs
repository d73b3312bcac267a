//! The manifest: every normative statement of MQTT 5.0 (251) and 3.1.1 (141), as data.
//!
//! Each statement has its spec id, section, title, level (MUST, SHOULD, ...), role (server,
//! client, both), the project's own one-line summary of what to check on the wire, and, where no
//! peer can observe it, `observable = false` with the reason. This crate loads the committed
//! TOML files, checks every rule of the format (reporting all problems with file, line and
//! field), and joins a manifest with the ids the scenarios declare into a coverage report.
//!
//! ```
//! use spec_manifest::{Coverage, Manifest, Version};
//!
//! let manifest = Manifest::builtin(Version::V5_0)?;
//! let coverage = Coverage::compute(&manifest, ["MQTT-3.1.0-1"].into_iter().take(0));
//! assert_eq!(coverage.totals.total, manifest.len());
//! # Ok::<(), spec_manifest::ManifestError>(())
//! ```
//!
//! # Layout
//! - `mqtt-v5.0.toml`, `mqtt-v3.1.1.toml` (crate folder): the data, compiled in by
//!   [`Manifest::builtin`]. Format: the crate's README.
//! - `ids-v5.0.txt`, `ids-v3.1.1.txt`: the reference id lists taken from the spec; a test checks
//!   that each manifest's id set equals its list.
//! - [`model`]: [`Version`], [`Level`], [`Role`], [`Statement`], section-number helpers.
//! - [`id`]: the id format rule, the two mistyped 3.1.1 labels, the reference lists.
//! - [`manifest`]: [`Manifest`] with its lookups (by id, by section prefix, in file order).
//! - `load` (private): the spanned TOML parse and every validation rule.
//! - [`error`]: [`ManifestError`], [`Problem`], [`ProblemKind`].
//! - [`coverage`]: [`Coverage`] per statement, section and role; JSON and Markdown output.

#![warn(missing_docs)]

pub mod coverage;
pub mod error;
pub mod id;
mod load;
pub mod manifest;
pub mod model;

pub use coverage::{Coverage, Status, Tally};
pub use error::{ManifestError, Problem, ProblemKind};
pub use load::SUMMARY_MAX_CHARS;
pub use manifest::{builtin_source, Manifest};
pub use model::{section_in, Level, Role, Statement, Version};
