//! Response bodies passed through with a fault: cut after some bytes, or with a byte flipped.
//!
//! Owns: the streaming wrapper around the registry's body. Nothing is buffered: frames are
//! forwarded as they arrive, so a large blob passes with flat memory.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};

/// The error a cut body ends with; hyper then drops the client's connection mid-body.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by the fault proxy after {0} bytes")]
pub struct InjectedReset(pub u64);

/// How long a cut body waits before failing, so that the bytes before the cut reach the
/// client.
const FLUSH_DELAY: Duration = Duration::from_millis(50);

/// What to do to the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// Forward unchanged.
    None,
    /// Forward this many bytes, then fail.
    CutAfter(u64),
    /// Flip the first byte.
    Corrupt,
}

/// A body with a [`BodyFault`] applied.
#[derive(Debug)]
pub struct FaultBody<B> {
    inner: B,
    fault: BodyFault,
    seen: u64,
    corrupted: bool,
    /// Started when a cut body has sent its bytes: waiting on it lets the server flush them
    /// to the client before the connection drops.
    flush: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> FaultBody<B> {
    pub fn new(inner: B, fault: BodyFault) -> Self {
        Self {
            inner,
            fault,
            seen: 0,
            corrupted: false,
            flush: None,
        }
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for FaultBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let BodyFault::CutAfter(limit) = this.fault
            && this.seen >= limit
        {
            let flush = this
                .flush
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(FLUSH_DELAY)));
            if flush.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            return Poll::Ready(Some(Err(Box::new(InjectedReset(this.seen)))));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let mut data = match frame.into_data() {
            Ok(data) => data,
            // Trailers pass through untouched.
            Err(frame) => return Poll::Ready(Some(Ok(frame))),
        };
        match this.fault {
            BodyFault::None => {}
            BodyFault::CutAfter(limit) => {
                let room = usize::try_from(limit - this.seen).unwrap_or(usize::MAX);
                data.truncate(room);
            }
            BodyFault::Corrupt if !this.corrupted && !data.is_empty() => {
                let mut bytes = BytesMut::from(data.as_ref());
                bytes[0] ^= 0xff;
                data = bytes.freeze();
                this.corrupted = true;
            }
            BodyFault::Corrupt => {}
        }
        this.seen += data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // The advertised length stays the registry's: a cut body is then visibly short.
        self.inner.size_hint()
    }
}
