//! Signing registry bearer tokens: compact JWS with ES256 over the claims the distribution
//! server checks.
//!
//! Owns: PEM decoding of the signing key and its certificate, the JOSE header, the claim set and
//! the signature. Does not own: who gets which access (`grant`) or HTTP (`server`).
//!
//! Follows the distribution token spec (<https://distribution.github.io/distribution/spec/auth/jwt/>)
//! and RFC 7515 §3.1 (compact serialisation). The header carries the signing certificate as
//! `x5c`: the registry verifies that chain against its `rootcertbundle`, which holds the same
//! self-signed certificate, so no key-ID scheme needs to be reproduced.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;

use super::scope::Access;

/// Errors while loading the signing material or signing a token.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM block labelled {label}")]
    NoPem { path: PathBuf, label: &'static str },
    #[error("{path} has a PEM block that is not valid base64")]
    Base64 {
        path: PathBuf,
        #[source]
        source: base64::DecodeError,
    },
    #[error("{path} is not a P-256 private key in PKCS#8 or SEC1 form")]
    Key { path: PathBuf },
    #[error("signing the token failed")]
    Sign,
}

/// The key that signs tokens and the certificate that the registry trusts for it.
#[derive(Debug)]
pub struct Signer {
    key: EcdsaKeyPair,
    certificate_der: Vec<u8>,
    rng: SystemRandom,
}

/// The claims of one token (the distribution server's `ClaimSet`).
#[derive(Debug, Serialize)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub access: &'a [Access],
}

#[derive(Serialize)]
struct Header<'a> {
    typ: &'static str,
    alg: &'static str,
    x5c: [&'a str; 1],
}

impl Signer {
    /// Loads a P-256 key (`openssl genpkey -algorithm EC`) and its self-signed certificate.
    pub fn load(key_path: &Path, certificate_path: &Path) -> Result<Self, JwtError> {
        let key_der =
            read_pem(key_path, "PRIVATE KEY").or_else(|_| read_pem(key_path, "EC PRIVATE KEY"))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_der)
            .or_else(|_| {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_der)
            })
            .map_err(|_| JwtError::Key {
                path: key_path.to_owned(),
            })?;
        let certificate_der = read_pem(certificate_path, "CERTIFICATE")?;
        Ok(Self {
            key,
            certificate_der,
            rng: SystemRandom::new(),
        })
    }

    /// A signer from a PKCS#8 P-256 key and the DER certificate to name in `x5c`.
    pub fn from_der(key_pkcs8: &[u8], certificate_der: Vec<u8>) -> Option<Self> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key_pkcs8).ok()?;
        Some(Self {
            key,
            certificate_der,
            rng: SystemRandom::new(),
        })
    }

    /// Signs `claims` into a compact JWS: `header.claims.signature`, each base64url.
    pub fn sign(&self, claims: &Claims<'_>) -> Result<String, JwtError> {
        let certificate = STANDARD.encode(&self.certificate_der);
        let header = Header {
            typ: "JWT",
            alg: "ES256",
            x5c: [&certificate],
        };
        let header = serde_json::to_vec(&header).map_err(|_| JwtError::Sign)?;
        let claims = serde_json::to_vec(claims).map_err(|_| JwtError::Sign)?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        // The FIXED algorithm yields r || s, the JWS form of an ECDSA signature (RFC 7518 §3.4).
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| JwtError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random identifier of `bytes` random bytes, hex-encoded.
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // Without randomness the ids only need to be distinct within one run.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        buf = now().to_be_bytes().to_vec();
    }
    hex::encode(buf)
}

fn read_pem(path: &Path, label: &'static str) -> Result<Vec<u8>, JwtError> {
    let text = std::fs::read_to_string(path).map_err(|source| JwtError::Read {
        path: path.to_owned(),
        source,
    })?;
    decode_pem(&text, label)
        .ok_or_else(|| JwtError::NoPem {
            path: path.to_owned(),
            label,
        })?
        .map_err(|source| JwtError::Base64 {
            path: path.to_owned(),
            source,
        })
}

/// The first PEM block labelled `label`, decoded; `None` when there is none.
fn decode_pem(text: &str, label: &str) -> Option<Result<Vec<u8>, base64::DecodeError>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(STANDARD.decode(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_pem_finds_the_labelled_block_only() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\naGVs\nbG8=\n-----END CERTIFICATE-----\n";
        let cases: &[(&str, Option<&[u8]>)] =
            &[("CERTIFICATE", Some(b"hello")), ("PRIVATE KEY", None)];
        for (label, want) in cases {
            let got = decode_pem(text, label).map(|r| r.expect("valid base64"));
            assert_eq!(got.as_deref(), *want, "label {label}");
        }
    }

    #[test]
    fn decode_pem_reports_bad_base64() {
        let text = "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----";
        assert!(matches!(decode_pem(text, "PRIVATE KEY"), Some(Err(_))));
    }

    #[test]
    fn signed_tokens_verify_with_the_public_key_and_carry_the_certificate() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};

        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("key generation");
        let signer = Signer::from_der(pkcs8.as_ref(), b"cert".to_vec()).expect("signer");
        let access = [Access {
            kind: "repository".into(),
            name: "busybox".into(),
            actions: vec!["pull".into()],
        }];
        let claims = Claims {
            iss: "issuer",
            sub: "user",
            aud: "service",
            exp: 2,
            nbf: 0,
            iat: 1,
            jti: "id".into(),
            access: &access,
        };
        let token = signer.sign(&claims).expect("signs");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).expect("base64url");
        let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).expect("json");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["x5c"][0], STANDARD.encode(b"cert"));
        let body: serde_json::Value = serde_json::from_slice(&decode(parts[1])).expect("json");
        assert_eq!(body["access"][0]["type"], "repository");
        assert_eq!(body["aud"], "service");

        let signature = decode(parts[2]);
        assert_eq!(signature.len(), 64, "r || s, 32 bytes each");
        let public = signer.key.public_key().as_ref().to_vec();
        let verifier = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public);
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies");
        let tampered = format!("{}.{}x", parts[0], parts[1]);
        assert!(verifier.verify(tampered.as_bytes(), &signature).is_err());
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(16), random_id(16));
        assert_eq!(random_id(8).len(), 16);
    }
}
