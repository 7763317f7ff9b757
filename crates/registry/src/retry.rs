//! Retries with exponential backoff and jitter, around whole operations.
//!
//! Owns: the policy: retry what [`Error::is_retryable`] says (connection failures, timeouts,
//! 408, 429, 5xx), never auth or validation errors; wait at least what `Retry-After` asks
//! (capped at the maximum delay); log each retry with the redacted error only.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::Error;
use crate::options::{Direction, RegistryOptions};

/// `Retry-After` in seconds; the HTTP-date form is read as "soon" (one second).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    Some(match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => Duration::from_secs(1),
    })
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or runs out of retries.
pub async fn retry<T, F, Fut>(
    options: &RegistryOptions,
    direction: Direction,
    what: &str,
    op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let max = options.retry_max_delay;
    let policy = ExponentialBuilder::default()
        .with_min_delay(options.retry_min_delay)
        .with_max_delay(max)
        .with_max_times(options.retries(direction) as usize)
        .with_jitter();
    op.retry(policy)
        .sleep(tokio::time::sleep)
        .when(Error::is_retryable)
        .adjust(move |e: &Error, backoff| {
            let backoff = backoff?;
            Some(match e.retry_after() {
                Some(asked) => asked.min(max).max(backoff),
                None => backoff,
            })
        })
        .notify(|e: &Error, wait| {
            tracing::warn!(operation = what, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    use reqwest::{Method, StatusCode, Url};

    use crate::error::ResponseError;

    fn status_error(status: u16) -> Error {
        let url = Url::parse("https://reg.example/v2/").unwrap();
        ResponseError::new(
            Method::GET,
            &url,
            StatusCode::from_u16(status).unwrap(),
            None,
            b"",
        )
        .into()
    }

    fn fast() -> RegistryOptions {
        RegistryOptions {
            retry_min_delay: Duration::from_millis(1),
            retry_max_delay: Duration::from_millis(5),
            pull_retries: 3,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let got = retry(&fast(), Direction::Pull, "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(status_error(503))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((got, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test]
    async fn auth_errors_fail_at_once() {
        let calls = AtomicU32::new(0);
        let err = retry(&fast(), Direction::Pull, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(status_error(401))
        })
        .await
        .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let calls = AtomicU32::new(0);
        let _ = retry(&fast(), Direction::Pull, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(status_error(429))
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
    }
}
