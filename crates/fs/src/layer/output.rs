//! Where the tar stream goes: a bounded channel to the compressor thread, then a temp file next
//! to the destination, hashing on the way.
//!
//! Owns: the tar → compress → file pipeline, the diff ID (sha256 of the tar as it is produced)
//! and the digest and size (sha256 and length of the bytes as they reach the file). Does not own:
//! what the tar contains (`super::source`) or the codecs (`super::compression`).
//!
//! Memory stays flat: the tar side hands over 256 KiB chunks through a channel of
//! [`CHANNEL_CHUNKS`] slots, and the compressor keeps a few blocks per thread.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use kiln_oci::{DiffId, Digest, Sha256};
use tempfile::NamedTempFile;

use super::compression::{Compression, Encoder};
use super::{Error, WrittenLayer};

/// Size of a chunk handed from the tar side to the compressor.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the tar side and the compressor.
const CHANNEL_CHUNKS: usize = 4;

/// The file end: counts and hashes the compressed bytes on their way to disk.
struct BlobSink {
    file: BufWriter<File>,
    hash: Sha256,
    size: u64,
}

impl Write for BlobSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The tar end: a `Write` that hashes the uncompressed stream and feeds the compressor thread.
pub(crate) struct LayerOutput {
    chunk: Vec<u8>,
    diff_id: Sha256,
    tx: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<io::Result<BlobSink>>>,
    temp: NamedTempFile,
    dest: PathBuf,
    compression: Compression,
}

fn compress_loop(rx: Receiver<Vec<u8>>, mut encoder: Encoder<BlobSink>) -> io::Result<BlobSink> {
    while let Ok(chunk) = rx.recv() {
        encoder.write_all(&chunk)?;
    }
    let mut sink = encoder.finish()?;
    sink.flush()?;
    Ok(sink)
}

impl LayerOutput {
    /// Creates the temp file next to `dest` and starts the compressor.
    pub(crate) fn create(
        dest: &Path,
        compression: Compression,
        level: i32,
        threads: usize,
    ) -> Result<Self, Error> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let io_err = |source| Error::Output {
            path: dest.to_owned(),
            source,
        };
        let temp = tempfile::Builder::new()
            .prefix(".kiln-layer-")
            .tempfile_in(dir)
            .map_err(io_err)?;
        let file = temp.as_file().try_clone().map_err(io_err)?;
        let sink = BlobSink {
            file: BufWriter::with_capacity(CHUNK, file),
            hash: Sha256::new(),
            size: 0,
        };
        let encoder = Encoder::new(compression, level, threads, sink).map_err(io_err)?;
        let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
        let worker = std::thread::Builder::new()
            .name("kiln-compress".into())
            .spawn(move || compress_loop(rx, encoder))
            .map_err(io_err)?;
        Ok(Self {
            chunk: Vec::with_capacity(CHUNK),
            diff_id: Sha256::new(),
            tx: Some(tx),
            worker: Some(worker),
            temp,
            dest: dest.to_owned(),
            compression,
        })
    }

    fn send_chunk(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let sent = self.tx.as_ref().map(|tx| tx.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            // The compressor stopped: its own error is reported by `finish`.
            _ => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the compressor stopped",
            )),
        }
    }

    fn join(&mut self) -> io::Result<BlobSink> {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the compressor thread panicked")),
            None => Err(io::Error::other("the compressor was already joined")),
        }
    }

    /// If writing failed, the compressor's own error is the better one to report.
    pub(crate) fn compressor_error(&mut self) -> Option<Error> {
        self.join().err().map(|source| Error::Output {
            path: self.dest.clone(),
            source,
        })
    }

    /// Ends the stream, waits for the compressor and moves the blob to its destination.
    pub(crate) fn finish(mut self) -> Result<WrittenLayer, Error> {
        let dest = self.dest.clone();
        let io_err = |source| Error::Output {
            path: dest.clone(),
            source,
        };
        if !self.chunk.is_empty() {
            self.send_chunk().map_err(io_err)?;
        }
        let sink = self.join().map_err(io_err)?;
        sink.file.get_ref().sync_data().map_err(io_err)?;
        let diff_id: DiffId = std::mem::take(&mut self.diff_id).finish_as();
        let BlobSink { file, hash, size } = sink;
        drop(file);
        let digest: Digest = hash.finish_as();
        self.temp.persist(&dest).map_err(|e| io_err(e.error))?;
        Ok(WrittenLayer {
            digest,
            diff_id,
            size,
            path: dest.clone(),
            compression: self.compression,
        })
    }
}

impl Write for LayerOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.diff_id.update(buf);
        let mut rest = buf;
        while !rest.is_empty() {
            let room = CHUNK - self.chunk.len();
            let n = room.min(rest.len());
            self.chunk.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.chunk.len() == CHUNK {
                self.send_chunk()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Deliberately nothing: flushing early would change where compressed blocks end.
        Ok(())
    }
}
