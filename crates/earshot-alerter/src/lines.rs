//! Lines of a file, read in place: the backtest reads gigabytes, and a
//! block small enough to stay in the CPU cache is parsed right after the
//! kernel copies it in (a 1 MiB `BufReader` plus a copy per line cost ~7%).

use std::io::{ErrorKind, Read};

/// Block size: well inside a core's L2 cache.
const BLOCK_BYTES: usize = 64 * 1024;

pub(crate) struct LineReader<R> {
    source: R,
    buffer: Vec<u8>,
    /// The unread bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    at_end: bool,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(source: R) -> Self {
        LineReader {
            source,
            buffer: vec![0; BLOCK_BYTES],
            start: 0,
            end: 0,
            at_end: false,
        }
    }

    /// The next line without its `\n`; the last line may lack one. A line
    /// longer than the block grows the buffer to hold it.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        loop {
            let unread = &self.buffer[self.start..self.end];
            if let Some(length) = memchr::memchr(b'\n', unread) {
                let line = self.start..self.start + length;
                self.start += length + 1;
                return Ok(Some(&self.buffer[line]));
            }
            if self.at_end {
                if self.start == self.end {
                    return Ok(None);
                }
                let line = self.start..self.end;
                self.start = self.end;
                return Ok(Some(&self.buffer[line]));
            }
            self.refill()?;
        }
    }

    /// Moves the partial line to the front and reads after it.
    fn refill(&mut self) -> std::io::Result<()> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        loop {
            match self.source.read(&mut self.buffer[self.end..]) {
                Ok(0) => {
                    self.at_end = true;
                    return Ok(());
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(());
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hands out at most `step` bytes a read, as a pipe or socket may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, into: &mut [u8]) -> std::io::Result<usize> {
            let count = self.step.min(into.len()).min(self.bytes.len());
            into[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    fn read_all(bytes: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut reader = LineReader::new(Trickle { bytes, step });
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().expect("in memory") {
            lines.push(line.to_vec());
        }
        lines
    }

    #[test]
    fn lines_longer_than_a_block_and_a_missing_last_newline() {
        let long = vec![b'x'; 3 * BLOCK_BYTES + 17];
        let mut bytes = b"first\n\n".to_vec();
        bytes.extend_from_slice(&long);
        bytes.extend_from_slice(b"\nlast");
        assert_eq!(
            read_all(&bytes, BLOCK_BYTES),
            vec![b"first".to_vec(), Vec::new(), long, b"last".to_vec()]
        );
        assert!(read_all(b"", 7).is_empty());
        assert_eq!(read_all(b"one\n", 1), vec![b"one".to_vec()]);
    }

    proptest! {
        /// The same lines as splitting the whole file at `\n`, however the
        /// reads fall.
        #[test]
        fn agrees_with_splitting_the_whole_file(
            lines in proptest::collection::vec("[a-z\r ]{0,40}", 0..50),
            final_newline in any::<bool>(),
            step in 1usize..100,
        ) {
            let mut text = lines.join("\n");
            if final_newline && !lines.is_empty() {
                text.push('\n');
            }
            let mut expected: Vec<Vec<u8>> =
                text.split('\n').map(|line| line.as_bytes().to_vec()).collect();
            // A final newline ends the last line rather than starting one.
            if text.is_empty() || text.ends_with('\n') {
                expected.pop();
            }
            prop_assert_eq!(read_all(text.as_bytes(), step), expected);
        }
    }
}
