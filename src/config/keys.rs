//! Configuration keys as the operator wrote them: `[api] prot` in a TOML
//! file, `BALLAST_API__PROT` in the environment, and the known key closest
//! to a misspelt one (`did you mean port?`).
//!
//! Owns turning figment's errors (a dotted path and the provider that gave
//! the value) into those words. Never reads a file; reads the environment
//! only to spell a variable the way it was set.

use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use figment::error::Kind;
use figment::providers::Env;

/// The prefix of Ballast's environment variables.
pub const ENV_PREFIX: &str = "BALLAST_";
/// What separates the nested keys of one variable (`BALLAST_API__PORT`).
pub const ENV_SPLIT: &str = "__";

/// The environment provider of the configuration.
pub fn environment() -> Env {
    Env::prefixed(ENV_PREFIX).split(ENV_SPLIT)
}

/// Where a rejected key was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A TOML file, by the path it was read from.
    File(PathBuf),
    /// A `BALLAST_…` environment variable.
    Environment,
    /// Ballast's own defaults (a bug, if ever rejected).
    Default,
}

/// What is wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No such key; `suggestion` is the closest known one, written the same way.
    UnknownKey { suggestion: Option<String> },
    /// The key exists; its value does not fit. `suggestion` is the closest
    /// allowed value for a misspelt choice (`loopbak`).
    BadValue {
        reason: String,
        suggestion: Option<String>,
    },
}

/// One rejected key of the configuration, named as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// Where it was written.
    pub origin: Origin,
    /// The key as written there (`[api] prot`, `BALLAST_API__PROT`); empty
    /// when the problem is the whole file (a TOML syntax error).
    pub key: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Environment variable names are shown bare, TOML keys in backticks.
        let quote = |s: &str| match self.origin {
            Origin::Environment => s.to_owned(),
            Origin::File(_) | Origin::Default => format!("`{s}`"),
        };
        if let Origin::File(path) = &self.origin {
            write!(f, "{}: ", path.display())?;
        }
        let suggestion = match &self.problem {
            Problem::UnknownKey { suggestion } => {
                match self.origin {
                    Origin::Environment => write!(f, "unknown environment variable {}", self.key)?,
                    Origin::File(_) | Origin::Default => {
                        write!(f, "unknown key {}", quote(&self.key))?
                    }
                }
                suggestion
            }
            Problem::BadValue { reason, suggestion } => {
                if !self.key.is_empty() {
                    write!(f, "{}: ", quote(&self.key))?;
                }
                f.write_str(reason)?;
                suggestion
            }
        };
        match suggestion {
            Some(s) => write!(f, "; did you mean {}?", quote(s)),
            None => Ok(()),
        }
    }
}

/// Every error figment reported, each named as written.
pub fn from_figment(error: figment::Error) -> Vec<KeyProblem> {
    error.into_iter().map(|e| one_from_figment(&e)).collect()
}

fn one_from_figment(error: &figment::Error) -> KeyProblem {
    let origin = error.metadata.as_ref().map_or(Origin::Default, origin_of);
    let path = &error.path;
    let key = written_key(&origin, path);
    let problem = match &error.kind {
        Kind::UnknownField(found, expected) => {
            let suggestion = closest(found, expected).map(|known| {
                let mut corrected = path.clone();
                if let Some(last) = corrected.last_mut() {
                    *last = known.to_owned();
                }
                match origin {
                    // The whole variable, since that is what gets retyped.
                    Origin::Environment => written_key(&origin, &corrected),
                    Origin::File(_) | Origin::Default => known.to_owned(),
                }
            });
            Problem::UnknownKey { suggestion }
        }
        Kind::UnknownVariant(found, expected) => Problem::BadValue {
            reason: format!("`{found}` is not one of {}", list(expected)),
            suggestion: closest(found, expected).map(str::to_owned),
        },
        // A TOML syntax error: figment's message already has line and column.
        Kind::Message(message) if path.is_empty() => Problem::BadValue {
            reason: message.trim_end().to_owned(),
            suggestion: None,
        },
        kind => Problem::BadValue {
            reason: kind.to_string(),
            suggestion: None,
        },
    };
    KeyProblem {
        origin,
        key,
        problem,
    }
}

/// A value that passed serde but not `Config::validate`, at the dotted
/// `path` (`networks.0.cidr`), named where `figment` got it from.
pub fn locate(figment: &Figment, path: &str, reason: String) -> KeyProblem {
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    // figment finds values by names only; an array's entries share its origin.
    let named = segments
        .iter()
        .position(|s| is_index(s))
        .unwrap_or(segments.len());
    let origin = figment
        .find_metadata(&segments[..named].join("."))
        .map_or(Origin::Default, origin_of);
    KeyProblem {
        key: written_key(&origin, &segments),
        origin,
        problem: Problem::BadValue {
            reason,
            suggestion: None,
        },
    }
}

/// Where the value described by `metadata` was written.
pub(super) fn origin_of(metadata: &figment::Metadata) -> Origin {
    use figment::Provider;
    match &metadata.source {
        Some(figment::Source::File(path)) => Origin::File(path.clone()),
        _ if metadata.name == environment().metadata().name => Origin::Environment,
        _ => Origin::Default,
    }
}

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// `path` as the operator wrote it at `origin`.
fn written_key(origin: &Origin, path: &[String]) -> String {
    match origin {
        Origin::Environment => env_key(path),
        Origin::File(_) => toml_key(path),
        Origin::Default => path.join("."),
    }
}

/// `[api] port`; `[[networks]] #1 cidr` for the first `[[networks]]` table;
/// `[api] reserved_ips[0]` for an entry of an array value.
fn toml_key(path: &[String]) -> String {
    let Some(name_at) = path.iter().rposition(|s| !is_index(s)) else {
        return path.join(".");
    };
    let mut key = path[name_at].clone();
    for index in &path[name_at + 1..] {
        key.push_str(&format!("[{index}]"));
    }
    match path[..name_at].split_last() {
        None => key,
        Some((last, tables)) if is_index(last) => {
            let entry = last.parse::<usize>().map_or(0, |i| i + 1);
            format!("[[{}]] #{entry} {key}", tables.join("."))
        }
        Some(_) => format!("[{}] {key}", path[..name_at].join(".")),
    }
}

/// `BALLAST_API__PORT`, spelt as the variable that is set when one matches
/// (figment lowercases names). An array given as one variable shows the
/// entry after it: `BALLAST_NETWORKS[0].cidr`.
fn env_key(path: &[String]) -> String {
    let named = path.iter().position(|s| is_index(s)).unwrap_or(path.len());
    let built = format!(
        "{ENV_PREFIX}{}",
        path[..named].join(ENV_SPLIT).to_ascii_uppercase()
    );
    let mut name = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .find(|name| name.eq_ignore_ascii_case(&built))
        .unwrap_or(built);
    for segment in &path[named..] {
        if is_index(segment) {
            name.push_str(&format!("[{segment}]"));
        } else {
            name.push('.');
            name.push_str(segment);
        }
    }
    name
}

fn list(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known word closest to `word`, if close enough to be a slip: at most
/// one edit per three characters (at least one), ignoring case.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let allowed = (word.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(&word, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`:
/// the optimal string alignment distance, so `prot` is one edit from `port`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table suffice: the swap looks two rows back.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn edit_distance_counts_a_swap_as_one_edit() {
        assert_eq!(edit_distance("prot", "port"), 1);
        assert_eq!(edit_distance("adress", "address"), 1);
        assert_eq!(edit_distance("port", "port"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_suggests_only_near_misses() {
        let known = ["address", "port", "request_timeout_secs"];
        assert_eq!(closest("prot", &known), Some("port"));
        assert_eq!(closest("PORT", &known), Some("port"));
        assert_eq!(
            closest("request_timeout", &known),
            Some("request_timeout_secs")
        );
        assert_eq!(closest("bogus_knob", &known), None);
        assert_eq!(closest("x", &known), None);
    }

    #[test]
    fn toml_keys_read_like_the_file() {
        assert_eq!(toml_key(&path("api.prot")), "[api] prot");
        assert_eq!(toml_key(&path("data_dir")), "data_dir");
        assert_eq!(toml_key(&path("networks.0.cidr")), "[[networks]] #1 cidr");
        assert_eq!(
            toml_key(&path("api.reserved_ips.2")),
            "[api] reserved_ips[2]"
        );
    }

    #[test]
    fn environment_keys_read_like_the_variable() {
        assert_eq!(env_key(&path("api.port")), "BALLAST_API__PORT");
        assert_eq!(
            env_key(&path("networks.0.cidr")),
            "BALLAST_NETWORKS[0].cidr"
        );
    }

    #[test]
    fn a_misspelt_file_key_names_its_file_table_and_the_right_key() {
        let problem = KeyProblem {
            origin: Origin::File("b.toml".into()),
            key: "[api] prot".into(),
            problem: Problem::UnknownKey {
                suggestion: Some("port".into()),
            },
        };
        assert_eq!(
            problem.to_string(),
            "b.toml: unknown key `[api] prot`; did you mean `port`?"
        );
    }
}
