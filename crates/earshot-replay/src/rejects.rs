//! The reject file: one JSON line per invalid input record, with where it
//! came from and why. Created on the first reject, so that a clean replay
//! leaves no empty file behind.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub(crate) struct RejectWriter {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    /// Bytes in the file so far, flushed or not (a checkpoint records it).
    bytes: u64,
}

impl RejectWriter {
    /// Opens lazily; when resuming, keeps the first `keep_bytes` of an
    /// existing file (what the checkpoint vouches for) and appends after them.
    pub(crate) fn new(path: &Path, keep_bytes: u64) -> anyhow::Result<Self> {
        let mut rejects = RejectWriter {
            path: path.to_owned(),
            writer: None,
            bytes: 0,
        };
        if keep_bytes > 0 {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot reopen {} to resume", path.display()))?;
            file.set_len(keep_bytes)?;
            let mut writer = BufWriter::new(file);
            std::io::Seek::seek(&mut writer, std::io::SeekFrom::End(0))?;
            rejects.writer = Some(writer);
            rejects.bytes = keep_bytes;
        }
        Ok(rejects)
    }

    pub(crate) fn write(&mut self, reject: &serde_json::Value) -> anyhow::Result<()> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self
                .writer
                .insert(BufWriter::new(File::create(&self.path).with_context(
                    || format!("cannot create {}", self.path.display()),
                )?)),
        };
        let mut line = serde_json::to_vec(reject)?;
        line.push(b'\n');
        writer.write_all(&line)?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(writer) = &mut self.writer {
            writer
                .flush()
                .with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
