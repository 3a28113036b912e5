//! Resumable file replays: after every acknowledged chunk the replay records
//! how far it got, so that a rerun after an interruption skips exactly what
//! the broker already has.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// How far a replay got, counting only what the broker acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Index into the input list of the file being read.
    pub file_index: usize,
    /// Last line of that file whose mention (or rejection) is settled.
    pub line: u64,
    pub lines: u64,
    pub sent: u64,
    pub rejected: u64,
    /// Length of the reject file at this point; a resume truncates to it so
    /// that rejects are not written twice either.
    pub reject_bytes: u64,
}

/// The checkpoint file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// What is replayed where: a checkpoint only resumes the same replay.
    pub inputs: Vec<PathBuf>,
    pub topic: String,
    /// `--shift-to-now`'s offset, kept so that resumed mentions line up.
    pub shift_ms: Option<i64>,
    pub progress: Progress,
    pub complete: bool,
}

const VERSION: u32 = 1;

impl Checkpoint {
    pub fn new(inputs: Vec<PathBuf>, topic: String) -> Self {
        Checkpoint {
            version: VERSION,
            inputs,
            topic,
            shift_ms: None,
            progress: Progress::default(),
            complete: false,
        }
    }

    /// Loads `path` if it exists and belongs to this replay.
    pub fn load(path: &Path, inputs: &[PathBuf], topic: &str) -> anyhow::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()))
            }
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a replay checkpoint", path.display()))?;
        if checkpoint.version != VERSION {
            anyhow::bail!(
                "{} has checkpoint version {}, this replay writes {VERSION}",
                path.display(),
                checkpoint.version
            );
        }
        if checkpoint.inputs != inputs || checkpoint.topic != topic {
            anyhow::bail!(
                "{} belongs to another replay (inputs {:?} to {}); remove it or pass another --checkpoint",
                path.display(),
                checkpoint.inputs,
                checkpoint.topic
            );
        }
        Ok(Some(checkpoint))
    }

    /// Writes atomically (temporary file, then rename), so that a crash
    /// leaves either the old or the new checkpoint, never half of one.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let temporary = path.with_extension("tmp");
        let body = serde_json::to_vec_pretty(self)?;
        std::fs::write(&temporary, body)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_another_replay() {
        let directory = tempfile::tempdir().expect("dir");
        let path = directory.path().join("replay.checkpoint.json");
        let inputs = vec![PathBuf::from("a.jsonl")];
        assert_eq!(
            Checkpoint::load(&path, &inputs, "mentions").expect("load"),
            None
        );
        let mut checkpoint = Checkpoint::new(inputs.clone(), "mentions".into());
        checkpoint.progress.line = 42;
        checkpoint.save(&path).expect("save");
        assert_eq!(
            Checkpoint::load(&path, &inputs, "mentions").expect("load"),
            Some(checkpoint)
        );
        assert!(Checkpoint::load(&path, &inputs, "other").is_err());
        assert!(Checkpoint::load(&path, &[PathBuf::from("b.jsonl")], "mentions").is_err());
    }
}
