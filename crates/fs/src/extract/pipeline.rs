//! Decompression on its own thread, one layer ahead of the layer being applied.
//!
//! Each layer's bytes are decompressed by a thread that hands fixed-size chunks to the applier
//! through a bounded channel, so at most `CHANNEL_CHUNKS * CHUNK` bytes per layer are in memory
//! whatever the layer's size. Layers are applied strictly in order (whiteouts depend on it);
//! while layer N is applied, layer N+1 is already decompressing into its own channel.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use super::compression::decompress;
use super::{Error, Options, Report, extract_tar};
use crate::resolve::Root;

/// Bytes per chunk handed from the decompressing thread to the applier.
const CHUNK: usize = 256 * 1024;

/// Chunks in flight per layer.
const CHANNEL_CHUNKS: usize = 16;

enum Chunk {
    Data(Vec<u8>),
    Failed(DecodeError),
}

enum DecodeError {
    Io(io::Error),
    Unsupported(&'static str),
}

/// Applies one layer (gzip, zstd or plain tar, detected) to `root`.
pub fn extract_layer(
    root: &Root,
    layer: impl Read + Send,
    options: &Options,
) -> Result<Report, Error> {
    let mut reports = extract_layers(root, [layer], options)?;
    Ok(reports.pop().unwrap_or_default())
}

/// Applies `layers` to `root` in order, decompressing each on a thread while the one before it
/// is applied. Stops at the first error.
pub fn extract_layers<I, R>(root: &Root, layers: I, options: &Options) -> Result<Vec<Report>, Error>
where
    I: IntoIterator<Item = R>,
    R: Read + Send,
{
    extract_layers_with(root, layers, options, |_, _| {})
}

/// [`extract_layers`], calling `applied` with the 0-based index and the report of each layer
/// as soon as it is applied, before the next one is: a caller shows progress layer by layer.
pub fn extract_layers_with<I, R, F>(
    root: &Root,
    layers: I,
    options: &Options,
    mut applied: F,
) -> Result<Vec<Report>, Error>
where
    I: IntoIterator<Item = R>,
    R: Read + Send,
    F: FnMut(usize, &Report),
{
    let mut layers = layers.into_iter().enumerate();
    thread::scope(|scope| {
        let spawn = |next: Option<(usize, R)>| {
            next.map(|(index, layer)| {
                let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
                scope.spawn(move || decode(layer, &tx));
                (index, rx)
            })
        };
        let mut reports = Vec::new();
        let mut current = spawn(layers.next());
        while let Some((index, rx)) = current.take() {
            current = spawn(layers.next());
            let mut reader = ChannelReader::new(rx);
            let result = extract_tar(root, &mut reader, options).and_then(|report| {
                // Read to the end: the gzip trailer's CRC is checked there, and the thread
                // finishes reading the layer for whoever hashes it.
                io::copy(&mut reader, &mut io::sink())
                    .map(|_| report)
                    .map_err(|source| Error::Archive {
                        after: None,
                        source,
                    })
            });
            match (result, reader.failure.take()) {
                (_, Some(DecodeError::Io(source))) => {
                    return Err(Error::Decompress {
                        layer: index,
                        source,
                    });
                }
                (_, Some(DecodeError::Unsupported(format))) => {
                    return Err(Error::UnsupportedCompression {
                        layer: index,
                        format,
                    });
                }
                (Err(e), None) => return Err(e),
                (Ok(report), None) => {
                    applied(index, &report);
                    reports.push(report);
                }
            }
        }
        Ok(reports)
    })
}

/// The decompressing thread: reads `layer` to its end, or until the applier hangs up.
fn decode<R: Read + Send>(layer: R, tx: &SyncSender<Chunk>) {
    let mut decoded = match decompress(layer) {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(format)) => {
            let _ = tx.send(Chunk::Failed(DecodeError::Unsupported(format)));
            return;
        }
        Err(e) => {
            let _ = tx.send(Chunk::Failed(DecodeError::Io(e)));
            return;
        }
    };
    loop {
        let mut chunk = vec![0; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match decoded.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Chunk::Failed(DecodeError::Io(e)));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        chunk.truncate(filled);
        if tx.send(Chunk::Data(chunk)).is_err() {
            // The applier stopped (an error): nothing more to do.
            return;
        }
    }
}

/// Reads the chunks a decoding thread sends; a hung-up channel is the end of the stream.
struct ChannelReader {
    rx: Receiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
    failure: Option<DecodeError>,
}

impl ChannelReader {
    fn new(rx: Receiver<Chunk>) -> ChannelReader {
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            failure: None,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.failure.is_some() {
                return Err(io::Error::other("layer decompression failed"));
            }
            match self.rx.recv() {
                Ok(Chunk::Data(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Chunk::Failed(e)) => self.failure = Some(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
