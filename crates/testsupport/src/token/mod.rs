//! A bearer-token server for the registry on `KILN_TEST_TOKEN_REGISTRY`.
//!
//! Owns: the token endpoint that the registry's `auth.token.realm` points at, in both forms
//! clients use: `GET /token?service=..&scope=..` with HTTP basic credentials (Docker's token
//! spec, <https://distribution.github.io/distribution/spec/auth/token/>) and `POST /token` with
//! an OAuth2 form, `grant_type=password` or `refresh_token`
//! (<https://distribution.github.io/distribution/spec/auth/oauth/>). Also `GET /healthz`.
//!
//! Does not own: the registry itself (Debian's `docker-registry`, started by `scripts/testenv`),
//! TLS (the endpoint is plain HTTP on loopback).
//!
//! Valid credentials get every action they ask for; anonymous requests get a token with no
//! access, so the registry answers them 401 the way a private repository does; wrong
//! credentials get 401 from this server. Refresh tokens are issued on `offline_token=true` or
//! `access_type=offline` and live as long as the process.

mod form;
mod jwt;
mod scope;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

pub use jwt::{JwtError, Signer};
pub use scope::Access;

/// Errors while setting the server up.
#[derive(Debug, thiserror::Error)]
pub enum TokenServerError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("cannot read credentials from {path}")]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: expected user:password")]
    CredentialsLine { path: PathBuf, line: usize },
}

/// Who may ask for tokens, and what the tokens say.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// The `iss` claim; the registry's `auth.token.issuer`.
    pub issuer: String,
    /// The `aud` claim; the registry's `auth.token.service`.
    pub service: String,
    /// `(user, password)` pairs that authenticate.
    pub users: Vec<(String, String)>,
    /// How long a token is valid.
    pub lifetime: Duration,
}

/// Reads `user:password` lines (blank lines and `#` comments skipped).
pub fn read_users(path: &Path) -> Result<Vec<(String, String)>, TokenServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenServerError::Credentials {
        path: path.to_owned(),
        source,
    })?;
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, password) =
            line.split_once(':')
                .ok_or_else(|| TokenServerError::CredentialsLine {
                    path: path.to_owned(),
                    line: i + 1,
                })?;
        users.push((user.to_owned(), password.to_owned()));
    }
    Ok(users)
}

/// The token server: a policy, a signer and the refresh tokens handed out so far.
#[derive(Debug)]
pub struct TokenServer {
    policy: TokenPolicy,
    signer: Signer,
    refresh_tokens: Mutex<HashMap<String, String>>,
}

/// A token request after HTTP: its parameters and the basic credentials, if any.
#[derive(Debug, Default)]
struct TokenRequest {
    params: Vec<(String, String)>,
    basic: Option<(String, String)>,
    post: bool,
}

impl TokenRequest {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn scopes(&self) -> Vec<String> {
        // GET repeats `scope`; the OAuth2 form separates scopes by spaces.
        self.params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' '))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl TokenServer {
    pub fn new(policy: TokenPolicy, signer: Signer) -> Self {
        Self {
            policy,
            signer,
            refresh_tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Serves HTTP/1.1 on `listener` until the process ends.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let server = Arc::clone(&self);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let server = Arc::clone(&server);
                    async move { Ok::<_, Infallible>(server.handle(req).await) }
                });
                // A client that hangs up mid-request is its own business.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let basic = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_basic);
        let (status, body) = match (&method, path.as_str()) {
            (&Method::GET, "/healthz") => (StatusCode::OK, json!({"status": "ok"})),
            (&Method::GET, "/token") => self.respond(&TokenRequest {
                params: form::parse(&query),
                basic,
                post: false,
            }),
            (&Method::POST, "/token") => {
                match Limited::new(req.into_body(), 64 * 1024).collect().await {
                    Ok(body) => {
                        let body = body.to_bytes();
                        self.respond(&TokenRequest {
                            params: form::parse(&String::from_utf8_lossy(&body)),
                            basic,
                            post: true,
                        })
                    }
                    Err(_) => error(StatusCode::BAD_REQUEST, "unreadable or oversized body"),
                }
            }
            _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
        };
        println!("{method} {path} -> {}", status.as_u16());
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    }

    /// The token endpoint's answer to one request: a status and a JSON body.
    fn respond(&self, req: &TokenRequest) -> (StatusCode, serde_json::Value) {
        if let Some(service) = req.param("service")
            && service != self.policy.service
        {
            return error(StatusCode::BAD_REQUEST, "unknown service");
        }
        let subject = match self.authenticate(req) {
            Ok(subject) => subject,
            Err((status, message)) => return error(status, message),
        };
        let access = scope::grant(&req.scopes(), subject.is_some());
        let sub = subject.as_deref().unwrap_or("");
        let now = jwt::now();
        let claims = jwt::Claims {
            iss: &self.policy.issuer,
            sub,
            aud: &self.policy.service,
            exp: now + self.policy.lifetime.as_secs(),
            nbf: now.saturating_sub(1),
            iat: now,
            jti: jwt::random_id(16),
            access: &access,
        };
        let token = match self.signer.sign(&claims) {
            Ok(token) => token,
            Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "signing failed"),
        };
        println!(
            "token for {:?}: {}",
            if sub.is_empty() { "<anonymous>" } else { sub },
            access
                .iter()
                .map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": self.policy.lifetime.as_secs(),
        });
        let offline = req.param("offline_token") == Some("true")
            || req.param("access_type") == Some("offline");
        if let (true, Some(user)) = (offline, &subject) {
            let refresh = format!("kiln-refresh-{}", jwt::random_id(24));
            if let Ok(mut tokens) = self.refresh_tokens.lock() {
                tokens.insert(refresh.clone(), user.clone());
            }
            body["refresh_token"] = json!(refresh);
        }
        (StatusCode::OK, body)
    }

    /// `Ok(Some(user))` for valid credentials, `Ok(None)` for none, `Err` with the status to
    /// answer for wrong ones or an unsupported grant.
    fn authenticate(
        &self,
        req: &TokenRequest,
    ) -> Result<Option<String>, (StatusCode, &'static str)> {
        let denied = |message| (StatusCode::UNAUTHORIZED, message);
        let check = |user: &str, password: &str| {
            self.policy
                .users
                .iter()
                .any(|(u, p)| u == user && p == password)
        };
        if req.post {
            match req.param("grant_type") {
                Some("password") => {
                    let user = req.param("username").unwrap_or("");
                    let password = req.param("password").unwrap_or("");
                    return if check(user, password) {
                        Ok(Some(user.to_owned()))
                    } else {
                        Err(denied("invalid username or password"))
                    };
                }
                Some("refresh_token") => {
                    let token = req.param("refresh_token").unwrap_or("");
                    let tokens = self
                        .refresh_tokens
                        .lock()
                        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "server error"))?;
                    return tokens
                        .get(token)
                        .cloned()
                        .map(Some)
                        .ok_or(denied("invalid refresh token"));
                }
                _ => return Err((StatusCode::BAD_REQUEST, "unsupported grant_type")),
            }
        }
        match &req.basic {
            Some((user, password)) if check(user, password) => Ok(Some(user.clone())),
            Some(_) => Err(denied("invalid username or password")),
            None => Ok(None),
        }
    }
}

fn error(status: StatusCode, message: &str) -> (StatusCode, serde_json::Value) {
    let code = if status == StatusCode::UNAUTHORIZED {
        "UNAUTHORIZED"
    } else {
        "DENIED"
    };
    (
        status,
        json!({"errors": [{"code": code, "message": message}], "details": message}),
    )
}

/// `Basic base64(user:password)` → `(user, password)`.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> TokenServer {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("key generation");
        let signer = Signer::from_der(pkcs8.as_ref(), b"cert".to_vec()).expect("signer");
        let policy = TokenPolicy {
            issuer: "issuer".into(),
            service: "service".into(),
            users: vec![("user".into(), "secret".into())],
            lifetime: Duration::from_secs(300),
        };
        TokenServer::new(policy, signer)
    }

    /// The `access` claim of a token.
    fn access(body: &serde_json::Value) -> serde_json::Value {
        let token = body["token"].as_str().expect("a token");
        let claims = token.split('.').nth(1).expect("claims");
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .expect("base64url");
        let claims: serde_json::Value = serde_json::from_slice(&claims).expect("json");
        claims["access"].clone()
    }

    fn get(query: &str, basic: Option<(&str, &str)>) -> TokenRequest {
        TokenRequest {
            params: form::parse(query),
            basic: basic.map(|(u, p)| (u.into(), p.into())),
            post: false,
        }
    }

    fn post(form_body: &str) -> TokenRequest {
        TokenRequest {
            params: form::parse(form_body),
            basic: None,
            post: true,
        }
    }

    #[test]
    fn token_requests_are_answered_by_credentials() {
        let server = server();
        let scope = "service=service&scope=repository:busybox:pull,push";
        let cases: Vec<(TokenRequest, u16, serde_json::Value)> = vec![
            (
                get(scope, Some(("user", "secret"))),
                200,
                json!([{"type": "repository", "name": "busybox", "actions": ["pull", "push"]}]),
            ),
            (get(scope, None), 200, json!([])),
            (get(scope, Some(("user", "wrong"))), 401, json!(null)),
            (
                get(
                    "service=other&scope=repository:busybox:pull",
                    Some(("user", "secret")),
                ),
                400,
                json!(null),
            ),
            (
                post(
                    "grant_type=password&username=user&password=secret&service=service&scope=repository:a:pull+repository:b:push",
                ),
                200,
                json!([
                    {"type": "repository", "name": "a", "actions": ["pull"]},
                    {"type": "repository", "name": "b", "actions": ["push"]},
                ]),
            ),
            (
                post("grant_type=password&username=user&password=bad"),
                401,
                json!(null),
            ),
            (post("grant_type=client_credentials"), 400, json!(null)),
            (
                post("grant_type=refresh_token&refresh_token=made-up"),
                401,
                json!(null),
            ),
        ];
        for (i, (request, status, want)) in cases.into_iter().enumerate() {
            let (got_status, body) = server.respond(&request);
            assert_eq!(got_status.as_u16(), status, "case {i}: {body}");
            if status == 200 {
                assert_eq!(access(&body), want, "case {i}");
                assert_eq!(body["expires_in"], 300, "case {i}");
            } else {
                assert!(body["errors"][0]["message"].is_string(), "case {i}: {body}");
            }
        }
    }

    #[test]
    fn offline_requests_get_a_refresh_token_that_works_once_issued() {
        let server = server();
        let (status, body) = server.respond(&get(
            "service=service&offline_token=true&scope=repository:a:pull",
            Some(("user", "secret")),
        ));
        assert_eq!(status, StatusCode::OK);
        let refresh = body["refresh_token"].as_str().expect("a refresh token");

        let (status, body) = server.respond(&post(&format!(
            "grant_type=refresh_token&refresh_token={refresh}&service=service&scope=repository:a:push"
        )));
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            access(&body),
            json!([{"type": "repository", "name": "a", "actions": ["push"]}])
        );

        let (_, anonymous) = server.respond(&get("offline_token=true", None));
        assert!(anonymous.get("refresh_token").is_none(), "{anonymous}");
    }

    #[test]
    fn parse_basic_accepts_only_basic_credentials() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("Basic dXNlcjpwYXNz", Some(("user", "pass"))),
            ("basic dXNlcjpwYTpzcw==", Some(("user", "pa:ss"))),
            ("Bearer dXNlcjpwYXNz", None),
            ("Basic !!!", None),
            ("Basic dXNlcg==", None),
        ];
        for (input, want) in cases {
            let got = parse_basic(input);
            let got = got.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            assert_eq!(got, *want, "header {input}");
        }
    }

    #[test]
    fn get_and_form_requests_list_their_scopes() {
        let get = TokenRequest {
            params: form::parse("scope=repository%3Aa%3Apull&scope=repository:b:push"),
            ..Default::default()
        };
        assert_eq!(get.scopes(), ["repository:a:pull", "repository:b:push"]);
        let post = TokenRequest {
            params: form::parse("scope=repository:a:pull+repository:b:pull,push"),
            post: true,
            ..Default::default()
        };
        assert_eq!(
            post.scopes(),
            ["repository:a:pull", "repository:b:pull,push"]
        );
    }
}
