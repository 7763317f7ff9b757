//! gzip blocks that are either deflated or stored, decided from each block's bytes.
//!
//! Owns: [`StoringGzip`], a `gzp` format that `ParCompress` runs on every 128 KiB block it cuts
//! from the tar stream, and the test that decides whether a block is worth deflating. Does not
//! own: the threads, the gzip header and trailer or the CRC-32 (`gzp`'s `Gzip`, reused as they
//! are), nor the choice of codec (`super::compression`).
//!
//! Deflating bytes that do not shrink (random data, files that are already compressed) costs as
//! much CPU as deflating text and saves nothing: zlib ends up emitting stored blocks for them
//! anyway. So before deflating a block, a cheap test looks for what deflate could use
//! (RFC 1951): a skewed byte distribution (for the Huffman codes) or repeats within deflate's
//! window (for LZ77 matches). A block that shows neither is written as stored blocks
//! (RFC 1951 §3.2.4, `BTYPE=00`), at a cost of 5 bytes per 64 KiB. The test reads only the
//! block's bytes, with integer arithmetic, so the output still depends only on the input and the
//! level, never on the thread count or the machine. Every other block goes through `gzp`'s own
//! `Gzip::encode`, so compressible data gives the same bytes as before.
//!
//! The thresholds were set on 300 MiB of `/usr` and 150 MiB of compressed files (`.gz`, `.png`,
//! `.xz`, `.jar`, ...) against level 6: the test stored 7% and 25% of their blocks, which deflate
//! would have shrunk by 2% at most, and the blobs grew by 0.04%; random data is stored whole. On
//! a random block the test costs a tenth to a sixth of what deflating it did; on text the first
//! skewed piece ends it. Blocks under 32 KiB (only the last one of a stream) are always deflated.

use bytes::Bytes;
use gzp::check::Crc32;
use gzp::deflate::Gzip;
use gzp::{Compression, FormatSpec, GzpError};

/// The byte distribution is judged on pieces of this size: deflate picks new Huffman codes
/// every few tens of KiB, so one skewed piece is enough to make a block worth deflating.
const PIECE: usize = 32 * 1024;
/// A piece counts as flat when `sum c(c-1)` over its byte counts `c` is at most
/// `FLAT_NUM / FLAT_DEN` times what uniform random bytes give (`L(L-1)/256` for a piece of `L`
/// bytes). That sum measures the collision entropy, a lower bound of the Shannon entropy; 9/8
/// leaves Huffman coding less than about 1% to gain.
const FLAT_NUM: u64 = 9;
const FLAT_DEN: u64 = 8;
/// Bytes that repeat within deflate's reach must stay under `1 / REPEAT_SHARE` of the block.
const REPEAT_SHARE: usize = 128;
/// The farthest back zlib looks for a match: its 32 KiB window less `MIN_LOOKAHEAD` (262).
const MAX_DISTANCE: usize = 32 * 1024 - 262;
/// Repeats are looked for from anchors: positions whose 8 bytes hash with the top
/// `ANCHOR_BITS` bits zero, about one position in 16. Anchors depend on content, not on
/// position, so a copy of a run has its anchors in the same places as the original; a repeat
/// shorter than a few dozen bytes may go unseen, and saves deflate little anyway.
const ANCHOR_BITS: u32 = 4;
/// Slots of the anchor table, indexed by hash.
const SLOTS_LOG2: u32 = 14;

/// `gzp`'s gzip format, with incompressible blocks stored instead of deflated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoringGzip {
    gzip: Gzip,
}

/// One compression thread's state: zlib's stream and the anchor table, reused block after block.
pub(crate) struct BlockCompressor {
    deflate: <Gzip as FormatSpec>::Compressor,
    anchors: Vec<u32>,
}

impl FormatSpec for StoringGzip {
    type C = Crc32;
    type Compressor = BlockCompressor;

    fn new() -> Self {
        StoringGzip { gzip: Gzip::new() }
    }

    fn needs_dict(&self) -> bool {
        false
    }

    fn create_compressor(&self, level: Compression) -> Result<BlockCompressor, GzpError> {
        Ok(BlockCompressor {
            deflate: self.gzip.create_compressor(level)?,
            anchors: vec![0; 1 << SLOTS_LOG2],
        })
    }

    fn encode(
        &self,
        input: &[u8],
        compressor: &mut BlockCompressor,
        level: Compression,
        _dict: Option<&Bytes>,
        is_last: bool,
    ) -> Result<Vec<u8>, GzpError> {
        if level.level() > 0 && incompressible(input, &mut compressor.anchors) {
            return Ok(stored(input, is_last));
        }
        self.gzip
            .encode(input, &mut compressor.deflate, level, None, is_last)
    }

    fn header(&self, level: Compression) -> Vec<u8> {
        self.gzip.header(level)
    }

    fn footer(&self, check: &Crc32) -> Vec<u8> {
        self.gzip.footer(check)
    }
}

/// Whether deflate would gain too little on `block` to be worth running.
fn incompressible(block: &[u8], anchors: &mut [u32]) -> bool {
    block.len() >= PIECE
        && block.chunks(PIECE).all(is_flat)
        && repeated_bytes(block, anchors, block.len() / REPEAT_SHARE) < block.len() / REPEAT_SHARE
}

/// Whether the bytes of `piece` are close to evenly spread over the 256 values.
fn is_flat(piece: &[u8]) -> bool {
    let mut counts = [0u32; 256];
    for &b in piece {
        counts[usize::from(b)] += 1;
    }
    let len = piece.len() as u64;
    if len < 2 {
        return false;
    }
    let collisions: u64 = counts
        .iter()
        .map(|&c| u64::from(c) * u64::from(c.saturating_sub(1)))
        .sum();
    // collisions / (len (len - 1) / 256) <= FLAT_NUM / FLAT_DEN
    collisions * 256 * FLAT_DEN <= len * (len - 1) * FLAT_NUM
}

/// How many bytes of `block` repeat earlier bytes within deflate's reach, from 8-byte matches
/// found at anchors and extended forwards and up to 7 bytes backwards; counting stops once
/// `enough` is reached.
fn repeated_bytes(block: &[u8], anchors: &mut [u32], enough: usize) -> usize {
    anchors.fill(0);
    let word = |i: usize| u64::from_le_bytes(block[i..i + 8].try_into().expect("8 bytes"));
    let mut repeated = 0;
    // Bytes before `counted` are already in `repeated`.
    let mut counted = 0;
    let mut i = 0;
    while i + 8 <= block.len() {
        let hash = word(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if hash >> (64 - ANCHOR_BITS) != 0 {
            i += 1;
            continue;
        }
        let slot = ((hash >> (64 - ANCHOR_BITS - SLOTS_LOG2)) & ((1 << SLOTS_LOG2) - 1)) as usize;
        // Slots hold position + 1, so 0 is empty; blocks are far below 4 GiB.
        let earlier = anchors[slot] as usize;
        anchors[slot] = (i + 1) as u32;
        let from = earlier.wrapping_sub(1);
        if earlier == 0 || i - from > MAX_DISTANCE || word(from) != word(i) {
            i += 1;
            continue;
        }
        let mut len = 8;
        while i + len < block.len() && block[from + len] == block[i + len] {
            len += 1;
        }
        let mut back = 0;
        while back < 7
            && back < from
            && i - back > counted
            && block[from - back - 1] == block[i - back - 1]
        {
            back += 1;
        }
        repeated += back + len;
        if repeated >= enough {
            break;
        }
        i += len;
        counted = i;
    }
    repeated
}

/// `input` as stored deflate blocks of at most 65,535 bytes; the last one is final when `is_last`.
fn stored(input: &[u8], is_last: bool) -> Vec<u8> {
    const MAX: usize = u16::MAX as usize;
    let count = input.len().div_ceil(MAX).max(1);
    let mut out = Vec::with_capacity(input.len() + 5 * count);
    for n in 0..count {
        let piece = &input[(n * MAX).min(input.len())..((n + 1) * MAX).min(input.len())];
        let last = is_last && n + 1 == count;
        let len = u16::try_from(piece.len()).expect("pieces are at most 65,535 bytes");
        // BFINAL in bit 0, BTYPE=00 in bits 1-2, then padding to the byte boundary.
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use gzp::ZWriter;
    use gzp::par::compress::ParCompressBuilder;

    use super::*;

    /// Deterministic pseudo-random bytes (xorshift), as incompressible as `/dev/urandom`.
    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn text(len: usize) -> Vec<u8> {
        let words = [
            "layer ",
            "digest ",
            "rootfs ",
            "whiteout ",
            "kiln\n",
            "0755 ",
        ];
        let mut out = Vec::new();
        let mut i = 0usize;
        while out.len() < len {
            out.extend_from_slice(words[(i * 7 + i / 5) % words.len()].as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    fn gzip<F: FormatSpec>(data: &[u8], threads: usize) -> Vec<u8> {
        let mut enc = ParCompressBuilder::<F>::new()
            .num_threads(threads)
            .unwrap()
            .compression_level(Compression::new(6))
            .from_writer(Vec::new());
        for chunk in data.chunks(10_007) {
            enc.write_all(chunk).unwrap();
        }
        enc.finish().unwrap()
    }

    fn gunzip(blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn blocks_are_judged_on_what_deflate_could_use() {
        let noise = random(128 * 1024, 1);
        let mut repeated = random(4000, 2).repeat(33);
        repeated.truncate(128 * 1024);
        let mut skewed = noise.clone();
        skewed.iter_mut().for_each(|b| *b %= 200);
        let mut one_text_piece = noise.clone();
        one_text_piece[64 * 1024..96 * 1024].copy_from_slice(&text(32 * 1024));
        // 2% of the block copied 20 KiB back: within deflate's window.
        let mut near_copy = noise.clone();
        near_copy.copy_within(10_000..12_700, 30_000);
        // The same bytes copied 100 KiB back: out of deflate's reach.
        let mut far_copy = noise.clone();
        far_copy.copy_within(1_000..3_700, 101_000);
        let cases: &[(&str, &[u8], bool)] = &[
            ("random", &noise, true),
            ("random, short last block", &noise[..40_000], true),
            ("smaller than a piece", &noise[..1000], false),
            ("random 4000 bytes repeated", &repeated, false),
            ("bytes below 200 only", &skewed, false),
            ("one piece of text", &one_text_piece, false),
            ("a copy within the window", &near_copy, false),
            ("a copy beyond the window", &far_copy, true),
            ("text", &text(128 * 1024), false),
            ("zeros", &[0; 128 * 1024], false),
        ];
        let mut anchors = vec![0; 1 << SLOTS_LOG2];
        for (name, block, want) in cases {
            assert_eq!(incompressible(block, &mut anchors), *want, "{name}");
        }
    }

    #[test]
    fn stored_blocks_split_at_65535_bytes_and_end_the_stream() {
        let data = random(200_000, 3);
        for is_last in [false, true] {
            let out = stored(&data, is_last);
            assert_eq!(out.len(), data.len() + 4 * 5, "four pieces");
            let mut deflated = out.clone();
            if !is_last {
                deflated.extend_from_slice(&stored(&[], true));
            }
            let mut back = Vec::new();
            flate2::read::DeflateDecoder::new(&deflated[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);
        }
        assert_eq!(stored(&[], true), [1, 0, 0, 0xff, 0xff]);
    }

    #[test]
    fn random_data_is_stored_with_five_bytes_per_64_kib() {
        let data = random(3 << 20, 4);
        let blob = gzip::<StoringGzip>(&data, 2);
        assert_eq!(gunzip(&blob), data);
        // 10 bytes of header, 8 of trailer, 3 stored blocks per 128 KiB block.
        assert_eq!(blob.len(), data.len() + 18 + 24 * 3 * 5);
    }

    #[test]
    fn compressible_data_gives_the_bytes_of_plain_gzip() {
        let mut data = text(1 << 20);
        data.extend((0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 29) as u8));
        let blob = gzip::<StoringGzip>(&data, 2);
        assert_eq!(blob, gzip::<Gzip>(&data, 2));
        assert!(blob.len() < data.len() / 3, "{} bytes", blob.len());
    }

    #[test]
    fn mixed_data_round_trips_with_the_same_bytes_on_any_thread_count() {
        let mut data = Vec::new();
        for i in 0..12 {
            data.extend(random(150_000, i));
            data.extend(text(70_000 + i as usize * 1000));
        }
        data.extend(random(131_072 * 2, 99)); // the stream ends on a stored block
        let one = gzip::<StoringGzip>(&data, 1);
        assert_eq!(one, gzip::<StoringGzip>(&data, 2));
        assert_eq!(one, gzip::<StoringGzip>(&data, 5));
        assert_eq!(gunzip(&one), data);
        assert!(one.len() < gzip::<Gzip>(&data, 1).len() + data.len() / 1000);
    }
}
