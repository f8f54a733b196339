//! `FailureNote`: a failed CLI run of a scope, as a shared store keeps it
//! for the other processes (or machines) that use the store.
//!
//! The in-process failure window (`scopes.rs`) keeps a failing CLI from
//! being run again by every caller of one process. Across processes, the
//! holder of the scope's lock ([`Storage::lock_scope`](crate::Storage::lock_scope))
//! leaves a note with [`Storage::note_failure`](crate::Storage::note_failure)
//! before it releases the lock, and the next holder reads it with
//! [`Storage::failure_note`](crate::Storage::failure_note) before it would
//! run the CLI: a fresh note is answered instead of a new run.
//!
//! The note holds no secret: the finding keeps the CLI's stderr only
//! sanitised (credentials masked) and never its stdout. [`encode`](FailureNote::encode)
//! and [`decode`](FailureNote::decode) give every store one text form, so a
//! note written by one implementation reads back in another.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::CliFinding;

/// The longest encoded note [`FailureNote::decode`] accepts (a finding's
/// stderr is bounded to about 4 KiB).
pub const FAILURE_NOTE_LIMIT: usize = 64 * 1024;

/// How a scope's last CLI run failed, and when (wall-clock time: it is
/// compared across processes, where tokio's clock means nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureNote {
    /// When the run failed.
    pub at: SystemTime,
    /// How it failed (never [`CliFinding::RecentlyFailed`]: a note is
    /// written by the run that failed).
    pub finding: CliFinding,
}

impl FailureNote {
    /// A note of `finding`, failed now (to the millisecond, the precision
    /// of [`encode`](Self::encode)).
    pub fn now(finding: CliFinding) -> Self {
        Self {
            at: wall_now(),
            finding,
        }
    }

    /// How long ago it failed (zero when `at` is in the future: another
    /// machine's clock, or this one's set back).
    pub fn age(&self) -> Duration {
        SystemTime::now().duration_since(self.at).unwrap_or_default()
    }

    /// One line of JSON:
    /// `{"version":1,"at_ms":1700000000123,"finding":{"kind":"exited","code":1,"stderr":"Error: …"}}`.
    ///
    /// ```
    /// use atlas_app_server::{CliFinding, FailureNote};
    /// let note = FailureNote::now(CliFinding::Exited { code: 1, stderr: "Error: not logged in".into() });
    /// assert_eq!(FailureNote::decode(&note.encode()), Some(note));
    /// assert_eq!(FailureNote::decode("not a note"), None);
    /// ```
    pub fn encode(&self) -> String {
        let at_ms = self
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let file = NoteFile {
            version: 1,
            at_ms,
            finding: Wire::from(&self.finding),
        };
        // A struct of strings and integers always serialises.
        serde_json::to_string(&file).unwrap_or_default()
    }

    /// The note `text` holds; `None` when it is not one (damaged, of a
    /// later version, too long): a store reads that as no note.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > FAILURE_NOTE_LIMIT {
            return None;
        }
        let file: NoteFile = serde_json::from_str(text.trim()).ok()?;
        if file.version != 1 {
            return None;
        }
        Some(Self {
            at: UNIX_EPOCH.checked_add(Duration::from_millis(file.at_ms))?,
            finding: file.finding.into_finding(0)?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct NoteFile {
    version: u32,
    at_ms: u64,
    finding: Wire,
}

/// [`CliFinding`]'s stored form, kept apart from the public type so that
/// the format changes only on purpose.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Exited { code: i32, stderr: String },
    Killed { signal: i32, stderr: String },
    EmptyOutput,
    TooLarge,
    NotAToken,
    TimedOut { after_ms: u64 },
    NotRun { why: String },
    NoOrg,
    RecentlyFailed { ago_ms: u64, finding: Box<Wire> },
    AlreadyExpired,
}

/// The wall clock, to the millisecond below: what a note's `at` is
/// compared with (a note written in the same millisecond as the wait began
/// counts as written during the wait).
pub(crate) fn wall_now() -> SystemTime {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(millis(since))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&CliFinding> for Wire {
    fn from(f: &CliFinding) -> Self {
        match f {
            CliFinding::Exited { code, stderr } => Wire::Exited {
                code: *code,
                stderr: stderr.clone(),
            },
            CliFinding::Killed { signal, stderr } => Wire::Killed {
                signal: *signal,
                stderr: stderr.clone(),
            },
            CliFinding::EmptyOutput => Wire::EmptyOutput,
            CliFinding::TooLarge => Wire::TooLarge,
            CliFinding::NotAToken => Wire::NotAToken,
            CliFinding::TimedOut { after } => Wire::TimedOut {
                after_ms: millis(*after),
            },
            CliFinding::NotRun(why) => Wire::NotRun { why: why.clone() },
            CliFinding::NoOrg => Wire::NoOrg,
            CliFinding::RecentlyFailed { ago, finding } => Wire::RecentlyFailed {
                ago_ms: millis(*ago),
                finding: Box::new(Wire::from(&**finding)),
            },
            CliFinding::AlreadyExpired => Wire::AlreadyExpired,
        }
    }
}

impl Wire {
    /// The finding; `None` past a nesting of 4 (a hand-made note).
    fn into_finding(self, depth: u8) -> Option<CliFinding> {
        Some(match self {
            Wire::Exited { code, stderr } => CliFinding::Exited { code, stderr },
            Wire::Killed { signal, stderr } => CliFinding::Killed { signal, stderr },
            Wire::EmptyOutput => CliFinding::EmptyOutput,
            Wire::TooLarge => CliFinding::TooLarge,
            Wire::NotAToken => CliFinding::NotAToken,
            Wire::TimedOut { after_ms } => CliFinding::TimedOut {
                after: Duration::from_millis(after_ms),
            },
            Wire::NotRun { why } => CliFinding::NotRun(why),
            Wire::NoOrg => CliFinding::NoOrg,
            Wire::RecentlyFailed { ago_ms, finding } if depth < 4 => CliFinding::RecentlyFailed {
                ago: Duration::from_millis(ago_ms),
                finding: Box::new(finding.into_finding(depth + 1)?),
            },
            Wire::RecentlyFailed { .. } => return None,
            Wire::AlreadyExpired => CliFinding::AlreadyExpired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_finding() -> Vec<CliFinding> {
        vec![
            CliFinding::Exited {
                code: 1,
                stderr: "Error: not logged in\nhint".into(),
            },
            CliFinding::Killed {
                signal: 9,
                stderr: String::new(),
            },
            CliFinding::EmptyOutput,
            CliFinding::TooLarge,
            CliFinding::NotAToken,
            CliFinding::TimedOut {
                after: Duration::from_millis(15_250),
            },
            CliFinding::NotRun("fly: not found".into()),
            CliFinding::NoOrg,
            CliFinding::RecentlyFailed {
                ago: Duration::from_millis(3_000),
                finding: Box::new(CliFinding::EmptyOutput),
            },
            CliFinding::AlreadyExpired,
        ]
    }

    #[test]
    fn every_finding_round_trips_to_the_millisecond() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for finding in every_finding() {
            let note = FailureNote {
                at,
                finding: finding.clone(),
            };
            let text = note.encode();
            assert!(!text.contains('\n'), "one line: {text}");
            assert_eq!(FailureNote::decode(&text), Some(note), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_note_reads_as_none() {
        for text in [
            "",
            "{}",
            r#"{"version":2,"at_ms":1,"finding":{"kind":"no_org"}}"#,
            r#"{"version":1,"at_ms":1,"finding":{"kind":"unknown"}}"#,
            r#"{"version":1,"at_ms":-1,"finding":{"kind":"no_org"}}"#,
        ] {
            assert_eq!(FailureNote::decode(text), None, "{text}");
        }
        let long = format!(
            r#"{{"version":1,"at_ms":1,"finding":{{"kind":"not_run","why":"{}"}}}}"#,
            "x".repeat(FAILURE_NOTE_LIMIT)
        );
        assert_eq!(FailureNote::decode(&long), None);
        let mut nested = r#"{"kind":"no_org"}"#.to_owned();
        for _ in 0..6 {
            nested = format!(r#"{{"kind":"recently_failed","ago_ms":1,"finding":{nested}}}"#);
        }
        let text = format!(r#"{{"version":1,"at_ms":1,"finding":{nested}}}"#);
        assert_eq!(FailureNote::decode(&text), None, "nesting is bounded");
    }

    #[test]
    fn age_is_never_negative() {
        let later = FailureNote {
            at: SystemTime::now() + Duration::from_secs(60),
            finding: CliFinding::NoOrg,
        };
        assert_eq!(later.age(), Duration::ZERO);
        let earlier = FailureNote {
            at: SystemTime::now() - Duration::from_secs(60),
            finding: CliFinding::NoOrg,
        };
        assert!(earlier.age() >= Duration::from_secs(60));
    }
}
