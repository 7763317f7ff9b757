//! Builds started by an unprivileged user: the whole build moves into a user namespace first.
//!
//! Extraction sets owners, COPY gives files to 0:0 or `--chown`, and the layer writer stores
//! the ids it finds: as an ordinary user, all of that would be wrong or fail. So before any
//! thread starts, a build that may use a user namespace (`--isolation` `auto` or `rootless`)
//! enters one where the invoking user is root and its subordinate ids follow
//! ([`kiln_sandbox::rootless`]), as rootless Buildah does. RUN then isolates itself with
//! chroot inside that namespace.
//!
//! Does not own: the namespace dance (`kiln-sandbox`), or what cannot be created even there
//! (devices, owners outside the mapped ranges), which extraction records.

use crate::flags::Isolation;

/// Moves the process into a user namespace when it is not root and `isolation` allows it,
/// and returns the isolation RUN uses afterwards. Call it while the process has one thread.
pub fn enter_user_namespace(isolation: Isolation) -> anyhow::Result<Isolation> {
    use kiln_sandbox::rootless;
    if rootless::is_host_root() || rootless::in_user_namespace() {
        return Ok(isolation);
    }
    if !matches!(isolation, Isolation::Auto | Isolation::Rootless) {
        return Ok(isolation);
    }
    match rootless::enter() {
        Ok(mapping) => {
            let ranges: Vec<String> = mapping
                .uids
                .iter()
                .map(|r| format!("{}..{} as {}", r.host, r.host + (r.count - 1), r.container))
                .collect();
            tracing::info!(
                "not root: the build runs in a user namespace mapping uids {}; RUN uses chroot \
                 isolation inside it",
                ranges.join(", ")
            );
            Ok(Isolation::Chroot)
        }
        Err(e) if isolation == Isolation::Rootless => Err(anyhow::Error::new(e).context(
            "--isolation=rootless: cannot enter a user namespace (are unprivileged user \
             namespaces allowed, and does the user have ranges in /etc/subuid and /etc/subgid?)",
        )),
        Err(e) => {
            tracing::warn!(
                "not root and no user namespace ({e}): steps that write files may fail; \
                 run as root or allow unprivileged user namespaces"
            );
            Ok(isolation)
        }
    }
}
