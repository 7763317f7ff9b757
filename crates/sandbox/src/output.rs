//! Splitting a RUN process's output into lines as it arrives.
//!
//! Owns: the line buffer between a pipe and the caller's callback. A line longer than
//! [`MAX_LINE`] is handed over in pieces, so a command printing megabytes without a newline
//! cannot grow memory.

/// The longest piece of output held before it is passed on without a newline.
pub const MAX_LINE: usize = 64 * 1024;

/// Accumulates bytes and yields complete lines, without their `\n`.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds `bytes`, calling `emit` for every complete (or over-long) line.
    pub(crate) fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(Vec<u8>)) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) if self.pending.len() + i <= MAX_LINE => {
                    self.pending.extend_from_slice(&bytes[..i]);
                    emit(std::mem::take(&mut self.pending));
                    bytes = &bytes[i + 1..];
                }
                _ => {
                    let room = MAX_LINE - self.pending.len();
                    let take = room.min(bytes.len());
                    self.pending.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.pending.len() == MAX_LINE {
                        emit(std::mem::take(&mut self.pending));
                    }
                }
            }
        }
    }

    /// Passes on what is left after the last newline, at end of stream.
    pub(crate) fn finish(self, emit: &mut dyn FnMut(Vec<u8>)) {
        if !self.pending.is_empty() {
            emit(self.pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut splitter = LineSplitter::default();
        for chunk in chunks {
            splitter.push(chunk, &mut |line| out.push(line));
        }
        splitter.finish(&mut |line| out.push(line));
        out
    }

    #[test]
    fn output_is_split_into_lines_across_chunks() {
        type Case<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);
        let cases: &[Case<'_>] = &[
            (&[b"one\ntwo\n"], &[b"one", b"two"]),
            (&[b"pa", b"rt\nla", b"st"], &[b"part", b"last"]),
            (&[b"\n\n"], &[b"", b""]),
            (&[b""], &[]),
        ];
        for (chunks, want) in cases {
            assert_eq!(
                split(chunks),
                want.iter().map(|l| l.to_vec()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn an_over_long_line_is_passed_on_in_pieces() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let lines = split(&[&long, b"\nend\n"]);
        let lens: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 10, 3]);
    }
}
