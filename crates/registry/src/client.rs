//! [`RegistryClient`]: the entry point that pull and push go through.
//!
//! Owns: the shared state of every operation: the options, the keychain, one HTTP client per
//! TLS setting, credentials resolved once per repository, and one authenticated [`Session`] per
//! registry, direction and credential, opened on first use and reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::credentials::{Keychain, Resolved};
use crate::error::Error;
use crate::options::{Direction, RegistryOptions};
use crate::progress::{Progress, ProgressFn, Reporter};
use crate::repository::Repository;
use crate::tls::ClientPool;
use crate::transport::Session;

type SessionKey = (String, Direction, String);

#[derive(Debug)]
struct Inner {
    options: RegistryOptions,
    keychain: Keychain,
    pool: ClientPool,
    credentials: Mutex<HashMap<Repository, Resolved>>,
    sessions: Mutex<HashMap<SessionKey, Arc<OnceCell<Arc<Session>>>>>,
}

/// A registry client; cheap to clone, and clones share connections, sessions and tokens.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
    progress: Option<Progress>,
}

impl RegistryClient {
    pub fn new(options: RegistryOptions, keychain: Keychain) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                keychain,
                pool: ClientPool::default(),
                credentials: Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
            }),
            progress: None,
        }
    }

    /// This client (sharing its connections, sessions and tokens) calling `hook` as bytes of
    /// a blob download or upload pass.
    pub fn with_progress(&self, hook: Arc<ProgressFn>) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            progress: Some(Progress(hook)),
        }
    }

    /// A reporter for one blob when this client has a progress hook.
    pub(crate) fn reporter(
        &self,
        direction: Direction,
        repo: &Repository,
        digest: &kiln_oci::Digest,
        total: Option<u64>,
    ) -> Option<Reporter> {
        self.progress
            .as_ref()
            .map(|p| p.reporter(direction, repo, digest, total))
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    /// How many distinct HTTP clients (TLS settings) have been built so far.
    pub fn http_clients(&self) -> usize {
        self.inner.pool.len()
    }

    async fn credential(&self, repo: &Repository) -> Result<Resolved, Error> {
        if let Some(r) = self
            .inner
            .credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(repo)
        {
            return Ok(r.clone());
        }
        let this = self.clone();
        let owned = repo.clone();
        // A credential helper is a child process: keep it off the async workers.
        let resolved = tokio::task::spawn_blocking(move || {
            this.inner.keychain.resolve(owned.registry(), owned.name())
        })
        .await
        .map_err(|e| Error::Unsupported {
            what: format!("credential lookup that panicked ({e})"),
        })?
        .map_err(|source| Error::Credentials {
            registry: repo.registry().to_owned(),
            source,
        })?;
        self.inner
            .credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.clone(), resolved.clone());
        Ok(resolved)
    }

    /// The session for `repo`'s registry in `direction`, opened (pinged) on first use.
    pub(crate) async fn session(
        &self,
        repo: &Repository,
        direction: Direction,
    ) -> Result<Arc<Session>, Error> {
        let credential = self.credential(repo).await?;
        let key = (
            repo.registry().to_owned(),
            direction,
            credential.source.clone(),
        );
        let cell = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let session = cell
            .get_or_try_init(|| async {
                let endpoint = self.inner.options.endpoint(repo.registry(), direction);
                let client = self
                    .inner
                    .pool
                    .get(&self.inner.options, &endpoint.tls)
                    .map_err(|source| Error::Tls {
                        registry: repo.registry().to_owned(),
                        source,
                    })?;
                Session::open(client, &endpoint, credential)
                    .await
                    .map(Arc::new)
            })
            .await?;
        Ok(session.clone())
    }
}
